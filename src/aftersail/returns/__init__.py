"""Returns: requests, policy decisions, return-or-keep economics, labels, receiving, grading and refunds."""
