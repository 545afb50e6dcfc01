"""Benchmarks that ship with driftline: the trainer against its limit and a peer, side by side."""
