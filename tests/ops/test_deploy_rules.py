"""deploy/grafana/chipreg.json and deploy/prometheus/alerts.yml read only what /metrics exports.

A dashboard panel or an alert over a metric that does not exist shows nothing and never fires, silently;
here every chipreg_* series they name is checked against a real scrape.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.scrape import scrape, series_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/chipreg.json"
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
# The alerts the issue asks for, by what they watch.
REQUIRED_ALERTS = {
    "ChipregNotReady",
    "ChipregOutboxLag",
    "ChipregCheckpointAge",
    "ChipregServerErrors",
    "ChipregStatementRejectionSpike",
    "ChipregDeliveryFailures",
}
METRIC = re.compile(r"\b(chipreg_[a-zA-Z0-9_]+)\b")


def dashboard_exprs():
    board = json.loads(DASHBOARD.read_text())
    exprs = []
    ids = []
    for panel in board["panels"]:
        ids.append(panel["id"])
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        exprs.extend((panel["title"], target["expr"]) for target in panel["targets"])
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    return exprs


def alert_rules():
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    for rule in rules:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        assert rule["labels"]["severity"] in ("page", "ticket") and rule["annotations"]["summary"]
    return rules


def test_the_alerts_the_issue_asks_for_exist():
    assert REQUIRED_ALERTS <= {rule["alert"] for rule in alert_rules()}


@pytest.mark.django_db
def test_every_metric_the_dashboard_and_alerts_name_is_exported(client):
    exported = series_names(scrape(client))
    used = {}
    for title, expr in dashboard_exprs():
        for name in METRIC.findall(expr):
            used.setdefault(name, []).append(f"dashboard panel {title!r}")
    for rule in alert_rules():
        for name in METRIC.findall(rule["expr"]) + METRIC.findall(json.dumps(rule["annotations"])):
            used.setdefault(name, []).append(f"alert {rule['alert']}")
    assert used, "no chipreg_* metric named at all"
    missing = {name: where for name, where in used.items() if name not in exported}
    assert not missing, f"not exported at /metrics: {missing}"
    # And the other way: every metric the app exports has a place on the dashboard.
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    for family in scrape(client):
        if not family.name.startswith("chipreg_"):
            continue  # the client library's own (process, gc)
        assert family.name in families or f"{family.name}_total" in used, f"{family.name} is on no panel"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Prometheus) is not installed here")
def test_promtool_accepts_the_rules_and_their_unit_tests():
    for args in (["check", "rules", str(ALERTS)], ["test", "rules", str(ALERTS.with_name("alerts_test.yml"))]):
        done = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
