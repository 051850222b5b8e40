"""Paths and loaders shared by the protocol tests (plain functions, so the tests
also run with `--noconftest` and without pytest-django)."""

import json
from pathlib import Path

from hypothesis import HealthCheck, settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VECTORS = HERE / "vectors"
FIXTURES = ROOT / "tests" / "fixtures"

# No example database written into the working tree, no wall-clock deadline on slow CI.
FAST = settings(database=None, deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
THOROUGH = settings(FAST, max_examples=300)


def load_vector(name: str) -> dict:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))
