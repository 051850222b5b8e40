"""Smoke tests of the benchmark framework: no timings asserted, only that the
pieces measure what they say (run the benchmarks themselves with `make bench`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import core
from bench.bench_log import hash_in_memory, make_leaves
from bench.bench_registration import api_bodies
from protocol import merkle
from protocol.encoding import jcs

REPO = Path(__file__).resolve().parents[2]


def test_refuses_without_postgres():
    env = {**os.environ, "DATABASE_URL": "sqlite:///tmp/x.sqlite3"}
    done = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "PostgreSQL" in done.stderr


def test_lists_the_benchmarks():
    done = subprocess.run([sys.executable, "-m", "bench", "--list"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "registration:" in done.stdout and "log:" in done.stdout


def test_result_ratio_and_reports(tmp_path):
    ok = core.Result(figure="f", value=50.0, unit="rows/s", baseline=200.0, target=">= 0.25", passed=True)
    info = core.Result(figure="g|h", value=None, unit="MiB", notes="n")
    assert ok.ratio == 0.25 and info.ratio is None
    for r in (ok, info):
        r.bench = "b"
    paths = core.write_reports([ok, info], {"mode": "full"}, results_dir=tmp_path)
    assert {p.name for p in paths} >= {"latest.json", "latest.md"} and len(paths) == 3
    assert json.loads((tmp_path / "latest.json").read_text())["results"][0]["ratio"] == 0.25
    md = (tmp_path / "latest.md").read_text()
    assert "| b | f | 50 rows/s | 200 rows/s | 0.250 | >= 0.25 | PASS |" in md
    assert "g\\|h" in md
    results, meta = core.load_results(tmp_path / "latest.json")
    assert results == [ok, info] and meta == {"mode": "full", "benches": {}}
    # A smoke run never replaces the full run's latest.md.
    quick = core.write_reports([ok], {"mode": "quick"}, results_dir=tmp_path, stamped=False)
    assert {p.name for p in quick} == {"latest-quick.json", "latest-quick.md"}
    scale = core.write_reports([ok], {"mode": "scale"}, results_dir=tmp_path, stamped=False)
    assert {p.name for p in scale} == {"latest-scale.json", "latest-scale.md"}


def test_a_partial_run_replaces_only_its_own_benches(tmp_path):
    first = [core.Result(figure="a1", value=1.0, unit="s"), core.Result(figure="b1", value=2.0, unit="s")]
    first[0].bench, first[1].bench = "a", "b"
    meta = {"mode": "full", "commit": "c1", "finished_at": "t1", "benches": {"a": {"seconds": 1}, "b": {"seconds": 2}}}
    core.write_reports(first, meta, results_dir=tmp_path)
    again = core.Result(figure="b2", value=3.0, unit="s", bench="b")
    core.write_reports(
        [again],
        {"mode": "full", "commit": "c2", "finished_at": "t2", "benches": {"b": {"seconds": 3}}},
        results_dir=tmp_path,
    )
    results, meta = core.load_results(tmp_path / "latest.json")
    assert [(r.bench, r.figure) for r in results] == [("a", "a1"), ("b", "b2")]
    assert meta["benches"]["a"]["commit"] == "c1" and meta["benches"]["b"]["commit"] == "c2"
    md = (tmp_path / "latest.md").read_text()
    assert "- a: commit c1, finished t1" in md and "- b: commit c2, finished t2" in md


def test_percentile_and_urls():
    assert core.percentile(list(range(1, 101)), 99) == 99
    assert core.percentile([3.0], 99) == 3.0
    assert core.is_postgres_url("postgres://u@h:5432/db") and not core.is_postgres_url("sqlite:///x")
    assert core.with_database("postgres://u@h:5432/db?x=1", "other") == "postgres://u@h:5432/other?x=1"


def test_log_leaves_are_canonical_and_the_baseline_builds_the_same_tree():
    leaves = make_leaves(1000)
    assert len(set(leaves)) == 1000
    assert all(jcs(json.loads(leaf)) == leaf for leaf in leaves[:50])
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    for batch in (64, 100, 1000):  # aligned and ragged batches
        _, levels = hash_in_memory(leaves, batch=batch)
        assert levels[0] == hashes
        assert [len(nodes) for nodes in levels] == [1000 >> level for level in range((1000).bit_length())]
        root = merkle.root_from_nodes(1000, lambda wanted, levels=levels: {(lv, k): levels[lv][k] for lv, k in wanted})
        assert root == merkle.root_from_leaf_hashes(hashes)


@pytest.mark.django_db
def test_registration_bodies_are_valid_rows():
    from registry.choices import OrgKind
    from registry.models import Organisation
    from registry.registration import validate_rows

    org = Organisation.objects.create(code="bench-smoke", name="x", kind=OrgKind.OPERATOR, country="US")
    bodies = api_bodies(250, 100)
    assert len(bodies) == 3
    rows = [row for body in bodies for row in validate_rows(json.loads(body), org)]
    assert len(rows) == 250 and len({r[2] for r in rows}) == 250


def test_fleet_rows_hold_the_rate_and_p99_targets_of_issue_16():
    from bench.bench_attestations import fleet_results

    def window(rate, p99, errors=0):
        return {
            "rate": rate,
            "p99": p99,
            "p50": p99 / 2,
            "count": int(rate * 60),
            "seconds": 60.0,
            "errors": errors,
            "exhausted": False,
        }

    def run(without, after):
        return {"without": without, "after": after, "big_seconds": 30.0, "settled_s": 5.0, "window_s": 60}

    rate, p99 = fleet_results(run(window(140, 40), window(70, 900)), 1_000_000, 2)
    assert "60 s right after" in rate.figure and "1,000,000" in rate.figure
    assert rate.ratio == 0.5 and rate.passed and p99.passed and p99.target == "< 1000 ms"
    rate, p99 = fleet_results(run(window(140, 40), window(69, 1000)), 1_000_000, 2)
    assert rate.passed is False and p99.passed is False
    # A statement that failed (a timeout) right after the big one fails the rate, whatever the ratio.
    rate, _ = fleet_results(run(window(140, 40), window(140, 40, errors=1)), 1_000_000, 2)
    assert rate.passed is False
