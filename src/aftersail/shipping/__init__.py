"""Shipping: parcels, carrier tracking events, exception rules, ETA and proactive care."""
