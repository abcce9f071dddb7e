# The two commands of the README, and the linters CI runs. Each target sets up what is missing.
.PHONY: setup demo test lint bench mutate

setup:
	@scripts/setup

demo: setup
	.venv/bin/fleetcron demo

# The tests also build the functions with Vercel's own builder: Node 20 and Python 3.12 / 3.13.
test: setup
	scripts/setup-vercel
	.venv/bin/pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	scripts/lint-sql
	.venv/bin/python scripts/lint_plpgsql.py

# The scale benchmark behind docs/performance.md (minutes, not a test): every figure next to its
# target. Options go in BENCH_ARGS, e.g. make bench BENCH_ARGS="--sections stale --repeat 5".
bench: setup
	.venv/bin/python -m benchmarks.scale $(BENCH_ARGS)

# Mutation testing (about a quarter of an hour, not in .ci/run): each mutant of mutation/mutants.toml, one at
# a time in a throwaway copy under /tmp, against its tests; writes mutation/RESULTS.md. Options go
# in MUTATE_ARGS, e.g. make mutate MUTATE_ARGS="--only purge-inclusive-cutoff".
mutate: setup
	.venv/bin/python mutation/run.py $(MUTATE_ARGS)
