"""Benchmarks: commands that print performance ratios against a baseline measured in the same run.

Performance claims in fleetcron come from here, never from timed tests. Run them from the
project root, e.g. ``python -m benchmarks.purge``; see benchmarks/README.md.
"""
