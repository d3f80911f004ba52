"""Benchmarks that print figures and ratios against baselines measured in the same run (not tests)."""
