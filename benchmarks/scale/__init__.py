"""`python -m benchmarks.scale`: fleetcron at fleet scale, every figure next to its target.

See benchmarks/README.md and docs/performance.md.
"""
