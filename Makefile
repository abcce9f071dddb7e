# The two commands of the README, and the linters CI runs. Each target sets up what is missing.
.PHONY: setup demo test lint

setup:
	@scripts/setup

demo: setup
	.venv/bin/fleetcron demo

test: setup
	.venv/bin/pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	scripts/lint-sql
