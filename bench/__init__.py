"""chipreg benchmarks: `python -m bench` (see bench/__main__.py and bench/core.py)."""
