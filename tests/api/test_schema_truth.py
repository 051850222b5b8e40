"""The schema tells the truth (issue #16): the lies it told, and the check that catches the next one.

Every answer the suite's API clients receive is validated against /api/v1/schema/
(tests/schema_check.py); these tests pin the three lies the issue named, and show
that the check fails a test on an answer the schema does not describe.
"""

import json

import pytest
from django.http import HttpResponse, JsonResponse

from tests.schema_check import SchemaViolation, check, find_template, request_violation, spec


def operation(method, template):
    return spec()["paths"][template][method]


def component(ref):
    return spec()["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_the_reconciliation_answer_is_a_reconciliation_not_a_facility(api, parties):
    """It was documented as a Facility; a client generated from that expected `code`, `country`..."""
    client = api(parties.users["op_a_admin"])  # its answers are checked against the schema
    site = {"code": "US-REC-001", "name": "Rec", "country": "US", "latitude": 39.0, "longitude": -77.0}
    assert client.post("/api/v1/facilities/", site).status_code == 201
    ok = operation("get", "/api/v1/facilities/{code}/reconciliation/")["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["$ref"].endswith("/Reconciliation")
    assert "text/csv" in ok  # ?format=csv answers the discrepancies as CSV
    body = client.get(f"/api/v1/facilities/{site['code']}/reconciliation/").json()
    assert body["facility"] == site["code"] and body["book"] == 0
    csv = client.get(f"/api/v1/facilities/{site['code']}/reconciliation/?format=csv")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    facility_shaped = JsonResponse({"id": 1, "code": site["code"]})
    with pytest.raises(SchemaViolation, match="is a required property"):
        check("GET", f"/api/v1/facilities/{site['code']}/reconciliation/", facility_shaped)


def test_declaring_a_threshold_documents_its_required_key(api, parties):
    """The view always required `key`; the documented request had none, so generated clients could not declare."""
    request = operation("post", "/api/v1/thresholds/")["requestBody"]["content"]["application/json"]["schema"]
    declared = component(request["$ref"])
    assert "key" in declared["required"] and declared["properties"]["key"].get("pattern")
    body = {
        "name": "Schema rule",
        "metric": "chip_count",
        "scope": "facility",
        "comparison": "ge",
        "value": 5,
        "effective_from": "2026-01-01T00:00:00Z",
    }
    treaty = api(parties.users["treaty"])
    missing = treaty.post("/api/v1/thresholds/", body)
    assert missing.status_code == 400 and "key" in missing.json()["errors"]
    # A key that is no slug was stored as sent and then answered against the schema's slug pattern.
    assert treaty.post("/api/v1/thresholds/", {**body, "key": "not a slug"}).status_code == 400
    assert treaty.post("/api/v1/thresholds/", {**body, "key": "schema-rule"}).status_code == 201


def test_an_alert_without_facility_or_operator_answers_null_as_documented(api, parties):
    """Cluster- and campus-scope alerts may have no facility (and operator); the schema said a required string."""
    from compliance.models import Alert

    Alert.objects.create(
        kind="threshold",
        group="g-schema",
        scope="cluster",
        subject_key="cluster:none",
        subject_label="A cluster",
        severity="high",
        title="Crossed",
    )
    listed = api(parties.users["treaty"]).get("/api/v1/alerts/").json()["results"]
    assert [a["facility"] for a in listed if a["group"] == "g-schema"] == [None]
    alert = component(
        operation("get", "/api/v1/alerts/")["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    )
    results = component(alert["properties"]["results"]["items"]["$ref"])
    assert results["properties"]["facility"].get("nullable") is True


def test_an_answer_the_schema_does_not_describe_fails_the_check():
    assert find_template("/api/v1/log/witnesses") == "/api/v1/log/witnesses/"  # the router's optional slash
    assert find_template("/api/v1/usage/total/") == "/api/v1/usage/total/"
    with pytest.raises(SchemaViolation, match="documents only"):
        check("POST", "/api/v1/log/witnesses/", HttpResponse(status=202))
    with pytest.raises(SchemaViolation, match="text/html"):
        check("GET", "/api/v1/log/key", HttpResponse("<p>key</p>", content_type="text/html"))
    with pytest.raises(SchemaViolation, match="no operation"):
        check("PUT", "/api/v1/log/witnesses/1/", JsonResponse({}))
    problem = {"type": "https://chipreg.example/problems/x", "title": "t", "status": 404, "detail": "d"}
    with pytest.raises(SchemaViolation, match="'code' is a required property"):
        check("GET", "/api/v1/chips/1/", JsonResponse(problem, status=404, content_type="application/problem+json"))
    with pytest.raises(SchemaViolation, match="text/plain"):
        check("GET", "/api/v1/log/key", JsonResponse({"key": "k"}))
    key = {"key": "k", "algorithm": "ed25519", "signature": "v1a"}
    check("GET", "/api/v1/webhooks/key", JsonResponse(key))
    with pytest.raises(SchemaViolation, match="'secret' was unexpected"):  # a member clients cannot see
        check("GET", "/api/v1/webhooks/key", JsonResponse({**key, "secret": "s"}))
    answered = HttpResponse(
        json.dumps({**problem, "code": "not_found"}), status=404, content_type="application/problem+json"
    )
    check("GET", "/api/v1/chips/1/", answered)  # errors are documented once, for every operation


def test_the_documented_evidence_parameter_picks_the_evidence(api, parties):
    """GET /alerts/{id}/chips/ documented ?evidence= and ignored it, always answering the first freeze."""
    from compliance.models import Alert, AlertEvidence

    alert = Alert.objects.create(
        kind="threshold", group="g-ev", scope="facility", subject_key="f", subject_label="F", severity="high", title="T"
    )
    AlertEvidence.objects.create(alert=alert, chips="nvidia:A1\n")
    later = AlertEvidence.objects.create(alert=alert, chips="nvidia:A1\nnvidia:A2\n")
    treaty = api(parties.users["treaty"])
    assert treaty.get(f"/api/v1/alerts/{alert.pk}/chips/").content == b"nvidia:A1\n"
    assert treaty.get(f"/api/v1/alerts/{alert.pk}/chips/?evidence={later.pk}").content == b"nvidia:A1\nnvidia:A2\n"


def test_a_malformed_csv_header_is_a_problem_not_a_crash(api, parties):
    """Schemathesis sent a CSV whose header row strict parsing refuses: the parser raised past its try (500)."""
    client = api(parties.users["op_a_admin"])
    response = client.post("/api/v1/chips/", b'"serial"x,model\n', content_type="text/csv")
    assert response.status_code == 400 and response.json()["code"] == "malformed_json"


def test_registering_one_chip_as_an_object_is_documented(api, parties):
    """README: `POST` one chip, a JSON list or a CSV. The view always took one chip as an object, but the schema
    documented only a list, so a client generated from it could not send the body the README shows."""
    one = {"chip": "nvidia:SCHEMA000001", "model": "nvidia-h100-sxm5-80gb"}
    many = [{"chip": "nvidia:SCHEMA000002", "model": "nvidia-h100-sxm5-80gb"}, {**one, "chip": "nvidia:SCHEMA000003"}]
    assert request_violation("POST", "/api/v1/chips/", one) is None
    assert request_violation("POST", "/api/v1/chips/", many) is None
    assert request_violation("POST", "/api/v1/chips/", "nvidia:SCHEMA000004") is not None  # not any JSON at all
    assert request_violation("POST", "/api/v1/chips/", {"chip": "nvidia:SCHEMA000004"}) is not None  # no model
    client = api(parties.users["op_a_admin"])
    assert client.post("/api/v1/chips/", one).json()["created"] == 1
    assert client.post("/api/v1/chips/", many).json()["created"] == 2


def test_the_versioned_rule_lists_document_their_all_parameter(api, parties):
    """README: `destination-rules/` (`?all=1`: every version); thresholds/ reads the same. A client generated from
    the schema could not send it: it was read by the views and documented nowhere."""
    for template in ("/api/v1/thresholds/", "/api/v1/destination-rules/"):
        names = [p["name"] for p in operation("get", template).get("parameters", [])]
        assert "all" in names, (template, names)
    treaty = api(parties.users["treaty"])
    body = {"key": "schema-all", "name": "n", "destinations": ["KP"], "effective_from": "2026-01-01T00:00:00Z"}
    assert treaty.post("/api/v1/destination-rules/", body).status_code == 201
    assert treaty.post("/api/v1/destination-rules/", {**body, "destinations": ["KP", "IR"]}).status_code == 201
    current = treaty.get("/api/v1/destination-rules/?key=schema-all").json()["results"]
    every = treaty.get("/api/v1/destination-rules/?key=schema-all&all=1").json()["results"]
    assert [r["version"] for r in current] == [2] and sorted(r["version"] for r in every) == [1, 2]


def test_the_all_parameter_is_a_yes_no_filter_like_the_others(api, parties):
    """README: a yes/no filter takes true/false (or 1/0), anything else 400 `invalid` naming it. `?all=true` was
    read as "current versions only" and `?all=maybe` answered 200: a client sending `true` silently lost the
    superseded versions."""
    from tests.compliance.test_evaluation import rule

    treaty = api(parties.users["treaty"])
    body = {"key": "yes-no-all", "name": "n", "destinations": ["KP"], "effective_from": "2026-01-01T00:00:00Z"}
    assert treaty.post("/api/v1/destination-rules/", body).status_code == 201
    assert treaty.post("/api/v1/destination-rules/", {**body, "destinations": ["KP", "IR"]}).status_code == 201
    rule(parties.users["treaty"], key="yes-no-all", value=3)
    rule(parties.users["treaty"], key="yes-no-all", value=4)
    for template in ("/api/v1/destination-rules/?key=yes-no-all", "/api/v1/thresholds/?key=yes-no-all"):
        expected = [1, 2]
        for word in ("true", "TRUE", "1"):
            versions = sorted(r["version"] for r in treaty.get(f"{template}&all={word}").json()["results"])
            assert versions == expected, (template, word)
        for word in ("false", "0", ""):
            versions = [r["version"] for r in treaty.get(f"{template}&all={word}").json()["results"]]
            assert versions == expected[-1:], (template, word)
        refused = treaty.get(f"{template}&all=maybe")
        assert refused.status_code == 400 and refused.json()["code"] == "invalid", refused.content
        assert "all" in refused.json()["detail"]
