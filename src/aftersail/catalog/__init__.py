"""Products, SKUs, bundles, batches, warehouses, shipping lanes and stock levels."""
