"""Consumers: the workers that do a version's heavy jobs (probe, proxy, thumbnail)."""
