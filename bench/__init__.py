"""Benchmarks of the harness itself: `python -m bench` (see bench/__main__.py)."""
