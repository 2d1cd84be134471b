"""Tenants, users, roles, teams, API keys, console sessions and signed buyer links."""
