"""Deterministic demo data: two sellers, five warehouses, catalog, customers, orders, live sessions."""
