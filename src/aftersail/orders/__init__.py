"""Customers, orders and lines, live sessions; allocation and cooling-off changes build on these."""
