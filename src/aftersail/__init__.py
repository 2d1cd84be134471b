"""AfterSail: the after-sales service desk for cross-border sellers with overseas warehouses."""

__version__ = "0.1.0"
