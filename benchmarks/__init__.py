"""Benchmarks: one command each, figures and the ratio to a raw limit measured in the same run."""
