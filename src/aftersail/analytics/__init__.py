"""Analytics: metrics and reports over the other domains' data, read through their services."""
