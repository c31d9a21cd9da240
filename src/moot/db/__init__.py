"""Persistence: the node config store and the cluster database (the only place that knows SQL)."""
