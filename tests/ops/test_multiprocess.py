"""Multiprocess mode (PROMETHEUS_MULTIPROC_DIR): what separate processes record is summed in one scrape.

Real processes, as gunicorn's workers and Celery's pool are: each records into the shared directory,
and a third renders the exposition a scrape of any web worker would return.
"""

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.ops.scrape import value

ROOT = Path(__file__).resolve().parents[2]

RECORD = """
import django
django.setup()
from core import metrics
for _ in range({n}):
    metrics.statement_rejected("bad_signature")
metrics.statement_accepted("location", 100)
print(metrics.process_identifier())
"""
RENDER = """
import django
django.setup()
from core import metrics
assert metrics.MULTIPROCESS
print(metrics.recorded_exposition().decode())
"""


def run(code, directory):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_processes_are_summed_and_dead_ones_pruned(tmp_path):
    first = run(RECORD.format(n=2), tmp_path).strip()
    second = run(RECORD.format(n=3), tmp_path).strip()
    assert first != second and first.rsplit("-", 1)[0] == second.rsplit("-", 1)[0]  # host-pid
    families = list(text_string_to_metric_families(run(RENDER, tmp_path)))
    assert value(families, "chipreg_statements_rejected_total", code="bad_signature") == 5
    assert value(families, "chipreg_statements_accepted_total", kind="location") == 2
    assert value(families, "chipreg_statement_chips_sum", kind="location") == 200

    # A service that starts again forgets the files of its processes that are gone, not others'.
    other = tmp_path / "counter_otherhost-1.db"
    other.write_bytes((tmp_path / f"counter_{first}.db").read_bytes())
    from core.metrics import prune_dead_process_files

    assert prune_dead_process_files(tmp_path) >= 2
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [other.name]
