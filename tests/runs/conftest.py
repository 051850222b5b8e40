from datetime import timedelta

import pytest

from tests.attestations.conftest import World, now

REVIEW_DAYS = 30


def rule(treaty, key, value, effect, severity="high", review_days=None):
    body = {
        "key": key,
        "name": key.replace("-", " "),
        "legal_reference": "Draft agreement, Article IV",
        "metric": "run_planned_compute",
        "scope": "run",
        "comparison": "gt",
        "value": value,
        "severity": severity,
        "effect": effect,
        "review_days": review_days,
        "effective_from": (now() - timedelta(days=365)).isoformat(),
    }
    r = treaty.post("/api/v1/thresholds/", body)
    assert r.status_code == 201, r.content
    return r.json()


@pytest.fixture
def world(api, parties):
    """The attestations world (op-a: US-VA-001 with c-east-1/2, US-CA-001; op-b: DE-FRA-001) with the draft's
    rules: declare and review above 1e22 FLOP (30 days), prohibited above 1e24."""
    w = World(api, parties)
    rule(w.treaty, "run-review", 1e22, "review", review_days=REVIEW_DAYS)
    rule(w.treaty, "run-prohibited", 1e24, "prohibit", severity="critical")
    w.insp_us = api(parties.users["insp_us"])
    w.insp_fr = api(parties.users["insp_fr"])
    w.op_a_readonly = api(parties.users["op_a_readonly"])
    return w


def declaration(flop=5e23, facilities=("US-VA-001",), clusters=(), start=None, end=None, **extra):
    start = start or now() + timedelta(days=40)
    return {
        "model_name": "frontier-7",
        "kind": "pre_training",
        "planned_flop": flop,
        "precision": "bf16",
        "facilities": list(facilities),
        "clusters": list(clusters),
        "planned_start": start.isoformat(),
        "planned_end": (end or start + timedelta(days=60)).isoformat(),
        "description": "Decoder-only transformer, our training code v3; web text and licensed books.",
        **extra,
    }
