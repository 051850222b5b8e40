"""Declaring rules on the new metrics through the API: the pairings a metric is judged on, the workloads an
unattributed_compute rule counts, and the versions the API answers."""

BASE = {
    "name": "Rule",
    "comparison": "gt",
    "value": 1e22,
    "severity": "high",
    "effective_from": "2025-01-01T00:00:00Z",
}


def test_a_metric_is_judged_on_its_scopes_only(api, parties):
    treaty = api(parties.users["treaty"])
    for metric, scope in (
        ("run_attested_compute", "facility"),
        ("run_attested_over_plan", "model"),
        ("model_compute", "run"),
        ("unattributed_compute", "operator_country"),
        ("tpp", "run"),
        ("tpp", "model"),
    ):
        body = {**BASE, "key": f"k-{metric}-{scope}".replace("_", "-"), "metric": metric, "scope": scope}
        r = treaty.post("/api/v1/thresholds/", {**body, "window_days": 30})
        assert r.status_code == 400 and "scope" in r.json()["errors"], (metric, scope, r.content)
    for metric, scope in (
        ("run_attested_compute", "run"),
        ("run_attested_over_plan", "run"),
        ("model_compute", "model"),
    ):
        body = {**BASE, "key": f"ok-{metric}".replace("_", "-"), "metric": metric, "scope": scope, "basis": "higher"}
        r = treaty.post("/api/v1/thresholds/", body)
        assert r.status_code == 201, r.content
        assert (r.json()["metric"], r.json()["scope"], r.json()["basis"]) == (metric, scope, "higher")


def test_unattributed_compute_counts_all_but_inference_unless_told(api, parties):
    treaty = api(parties.users["treaty"])
    body = {**BASE, "metric": "unattributed_compute", "scope": "cluster"}
    no_window = treaty.post("/api/v1/thresholds/", {**body, "key": "u0"})
    assert no_window.status_code == 400 and "window_days" in no_window.json()["errors"]
    default = treaty.post("/api/v1/thresholds/", {**body, "key": "u1", "window_days": 30})
    # The default: every workload but inference (a label is the operator's word).
    assert default.status_code == 201
    assert default.json()["workloads"] == ["idle", "mixed", "other", "training", "unlabelled"]
    listed = treaty.post("/api/v1/thresholds/", {**body, "key": "u2", "window_days": 30, "workloads": ["inference"]})
    assert listed.status_code == 201 and listed.json()["workloads"] == ["inference"]
    bad = treaty.post("/api/v1/thresholds/", {**body, "key": "u3", "window_days": 30, "workloads": ["gaming"]})
    assert bad.status_code == 400 and "workloads" in bad.json()["errors"]
    other = {**BASE, "key": "u4", "metric": "tpp", "scope": "facility", "workloads": ["training"]}
    refused = treaty.post("/api/v1/thresholds/", other)
    assert refused.status_code == 400 and "workloads" in refused.json()["errors"]
    # Operators declare no rules, on any metric.
    assert (
        api(parties.users["op_a_admin"])
        .post("/api/v1/thresholds/", {**body, "key": "u5", "window_days": 30})
        .status_code
        == 403
    )


def test_run_kinds_are_for_rules_on_runs(api, parties):
    treaty = api(parties.users["treaty"])
    body = {**BASE, "metric": "run_attested_compute", "scope": "run"}
    ok = treaty.post("/api/v1/thresholds/", {**body, "key": "k1", "run_kinds": ["post_training"]})
    assert ok.status_code == 201 and ok.json()["run_kinds"] == ["post_training"]
    bad = treaty.post("/api/v1/thresholds/", {**body, "key": "k2", "run_kinds": ["inference"]})
    assert bad.status_code == 400 and "run_kinds" in bad.json()["errors"]
    other = {**BASE, "key": "k3", "metric": "tpp", "scope": "facility", "run_kinds": ["post_training"]}
    refused = treaty.post("/api/v1/thresholds/", other)
    assert refused.status_code == 400 and "run_kinds" in refused.json()["errors"]
