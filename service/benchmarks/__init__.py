"""Benchmark data: the AMA principles, the built-in item set and the importers."""
