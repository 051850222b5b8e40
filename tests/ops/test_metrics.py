"""/metrics scraped as Prometheus would: who may read it, and that what happens is counted."""

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.attestations.conftest import world  # noqa: F401 (fixture)
from tests.ops.scrape import scrape, value


def test_metrics_from_loopback_only_unless_a_token_is_set(client, settings, db):
    settings.CHIPREG_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200  # the test client's REMOTE_ADDR is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    # A public client through nginx: the connection is from loopback, the request is not.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer ").status_code == 404

    settings.CHIPREG_METRICS_TOKEN = "s3cret-scrape-token"
    remote = {"REMOTE_ADDR": "10.1.2.3", "HTTP_X_FORWARDED_FOR": "10.1.2.3"}
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token", **remote).status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-tokeN", **remote).status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="s3cret-scrape-token", **remote).status_code == 404


@pytest.mark.django_db
def test_requests_are_counted_by_route_and_status_not_by_path(client, api, parties):
    before = scrape(client)
    treaty = api(parties.users["treaty"])
    assert treaty.get("/api/v1/chips/nvidia:NOPE0001/").status_code == 404
    assert treaty.get("/api/v1/chips/nvidia:NOPE0002/").status_code == 404
    assert client.get("/no/such/page/at/all/").status_code == 404
    assert client.get("/healthz").status_code == 200
    after = scrape(client)

    def delta(**labels):
        return value(after, "chipreg_http_requests_total", **labels) - value(
            before, "chipreg_http_requests_total", **labels
        )

    assert delta(route="chip-detail", method="GET", status="404") == 2
    assert delta(route="unmatched", method="GET", status="404") == 1
    assert delta(route="healthz", method="GET", status="200") == 1
    paths = {s.labels.get("route") for f in after for s in f.samples if f.name == "chipreg_http_requests"}
    assert not any("NOPE" in route or route.startswith("/") for route in paths)
    assert value(after, "chipreg_http_request_duration_seconds_count", route="chip-detail") >= 2


@pytest.mark.django_db
def test_statements_accepted_and_rejected_are_counted(world, client):  # noqa: F811
    before = scrape(client)
    chips = [f"nvidia:A00000{i}" for i in range(3)]
    response, _ = world.submit(world.op_a, world.location(chips))
    assert response.status_code == 201, response.content
    stranger = ed25519.Ed25519PrivateKey.generate()
    response, _ = world.submit(world.op_a, world.location(chips), stranger)
    assert response.status_code == 403 and response.json()["code"] == "unknown_key"
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("chipreg_statements_accepted_total", kind="location") == 1
    assert delta("chipreg_statements_rejected_total", code="unknown_key") == 1
    assert delta("chipreg_statement_chips_count", kind="location") == 1
    assert delta("chipreg_statement_chips_sum", kind="location") == 3
    assert delta("chipreg_statement_chips_bucket", kind="location", le="1.0") == 0
    assert delta("chipreg_statement_chips_bucket", kind="location", le="8.0") == 1
    assert delta("chipreg_http_requests_total", route="attestation-list", method="POST", status="201") == 1
    assert delta("chipreg_http_requests_total", route="attestation-list", method="POST", status="403") == 1


@pytest.mark.django_db
def test_evaluation_tasks_are_timed_and_their_failures_counted(client):
    from compliance import tasks

    before = scrape(client)
    tasks.evaluate_events.delay([])  # eager: runs here, through Celery's tracer and its signals
    with pytest.raises(KeyError):
        tasks.evaluate_events.delay([[1, "findings.raised", {}]])  # a malformed event: the task fails
    after = scrape(client)
    name = "compliance.tasks.evaluate_events"
    count = "chipreg_evaluation_duration_seconds_count"
    assert value(after, count, task=name) - value(before, count, task=name) == 2
    failures = "chipreg_evaluation_failures_total"
    assert value(after, failures, task=name) - value(before, failures, task=name) == 1


@pytest.mark.django_db
def test_delivery_tries_are_counted_by_outcome(client, api, parties, settings, tmp_path):
    from compliance.delivery import notify
    from compliance.models import DeliveryState
    from tests.compliance.test_delivery import make_alert, subscribe

    settings.CHIPREG_WEBHOOK_KEY_PATH = tmp_path / "webhook-key.pem"
    settings.CHIPREG_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CHIPREG_WEBHOOK_RETRY_HOURS = 0  # the first failed try is the last: a dead letter
    subscribe(api(parties.users["treaty"]), webhook_url="http://127.0.0.1:9/hook")  # nothing listens there
    before = scrape(client)
    [delivery] = notify(make_alert(parties).pk, "alert.raised")  # eager: tried at once
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DEAD
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("chipreg_delivery_attempts_total", channel="webhook", outcome="dead") == 1
    assert delta("chipreg_delivery_attempts_total", channel="webhook", outcome="delivered") == 0
    assert delta("chipreg_delivery_duration_seconds_count", channel="webhook") == 1
