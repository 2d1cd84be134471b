"""The support domain: tickets, messages, channels, routing, SLA, macros, CSAT."""
