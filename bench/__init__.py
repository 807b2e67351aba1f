"""Benchmarks (run as modules, e.g. `python -m bench.lifecycle`); nothing runs at import."""
