"""Vercel's own build and runtime code, pinned, driven from tests (see platform.py)."""
