"""Benchmarks: what a room of attendees costs (make bench-hub, bench-swarm, bench-startup)."""
