"""/healthz and /readyz: every readiness check passing, and each failing for real, one at a time."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from outbox.models import OutboxEvent
from tests.attestations.conftest import world  # noqa: F401 (fixture)
from tests.ops.scrape import scrape, value
from transparency.models import Checkpoint, LogHead, LogLeaf

CHECKS = {"database", "broker", "log_key", "outbox", "checkpoint"}


@pytest.fixture
def log_key(settings, tmp_path):
    from transparency.checkpoints import generate_log_key

    settings.CHIPREG_LOG_KEY_PATH = tmp_path / "log-key.pem"
    settings.CHIPREG_LOG_KEY_AUTOCREATE = False  # as in production: a missing key is an error
    generate_log_key(settings.CHIPREG_LOG_KEY_PATH)
    return settings.CHIPREG_LOG_KEY_PATH


def ready(client):
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def test_healthz_answers_without_touching_the_database(client):
    # No database fixture: pytest-django makes any query in this test an error.
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_200_with_every_check_when_all_pass(client, log_key):
    status, body = ready(client)
    assert status == 200, body
    assert body["status"] == "ok" and set(body["checks"]) == CHECKS
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["outbox"]["lag_s"] == 0 and body["checks"]["checkpoint"]["unsigned_leaves"] == 0


@pytest.mark.django_db
def test_readyz_fails_when_the_log_key_is_missing(client, log_key):
    log_key.unlink()
    status, body = ready(client)
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["log_key"]["ok"] is False
    assert "does not exist" in body["checks"]["log_key"]["error"]
    assert str(log_key.parent) not in json.dumps(body)  # /readyz is public: no paths, no hosts
    assert all(body["checks"][name]["ok"] for name in CHECKS - {"log_key"})
    assert value(scrape(client), "chipreg_ready", check="log_key") == 0
    assert value(scrape(client), "chipreg_ready", check="database") == 1


@pytest.mark.django_db
def test_readyz_fails_when_the_log_key_is_not_a_key(client, log_key):
    log_key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    status, body = ready(client)
    assert status == 503 and body["checks"]["log_key"]["ok"] is False


@pytest.mark.django_db
def test_readyz_fails_when_the_outbox_lags(client, log_key, settings):
    settings.CHIPREG_READY_OUTBOX_LAG_S = 60
    event = OutboxEvent.objects.create(topic="ops.test", payload={})
    assert ready(client)[0] == 200  # a fresh event is no lag
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    status, body = ready(client)
    assert status == 503 and body["checks"]["outbox"]["ok"] is False
    assert 590 < body["checks"]["outbox"]["lag_s"] < 700
    assert 590 < value(scrape(client), "chipreg_outbox_lag_seconds") < 700
    OutboxEvent.objects.filter(pk=event.pk).update(dispatched_at=timezone.now())
    assert ready(client)[0] == 200


@pytest.mark.django_db
def test_readyz_fails_when_appended_leaves_wait_too_long_for_a_checkpoint(world, client, log_key, settings):  # noqa: F811
    settings.CHIPREG_READY_CHECKPOINT_AGE_S = 60
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"]))
    assert response.status_code == 201, response.content
    signed = Checkpoint.objects.order_by("-size").values_list("size", flat=True).first() or 0
    head = LogHead.objects.get(id=1).size
    assert head > signed  # the statement's leaf (and the events before it) wait for the signer
    assert ready(client)[0] == 200  # just appended: not late yet
    LogLeaf.objects.filter(index__gte=signed).update(appended_at=timezone.now() - timedelta(minutes=5))
    status, body = ready(client)
    assert status == 503 and body["checks"]["checkpoint"]["ok"] is False
    assert body["checks"]["checkpoint"]["unsigned_leaves"] == head - signed
    families = scrape(client)
    assert value(families, "chipreg_checkpoint_age_seconds") > 290
    assert value(families, "chipreg_checkpoint_unsigned_leaves") == head - signed
    # The signer catches up: nothing waits, the check passes again.
    from transparency.checkpoints import sign_if_due

    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 0
    sign_if_due()
    status, body = ready(client)
    assert status == 200, body
    assert body["checks"]["checkpoint"]["age_s"] == 0


@pytest.mark.django_db
def test_readyz_fails_when_the_broker_does_not_answer(client, log_key, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # the discard port: nothing answers Redis there
    status, body = ready(client)
    assert status == 503 and body["checks"]["broker"]["ok"] is False
    assert "ConnectionError" in body["checks"]["broker"]["error"]
    assert all(body["checks"][name]["ok"] for name in CHECKS - {"broker"})


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_pings_the_real_broker(client, log_key, settings):
    import os

    settings.REDIS_URL = os.environ["REDIS_URL"]
    status, body = ready(client)
    assert status == 200 and "ms" in body["checks"]["broker"]


def test_with_no_database_healthz_is_200_and_readyz_503(tmp_path):
    """A web process whose PostgreSQL cannot be reached (nothing listens on the port): alive, not ready."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = """
import json, django
django.setup()
from django.test import Client
client = Client()
health, ready = client.get("/healthz"), client.get("/readyz")
print(json.dumps([health.status_code, ready.status_code, ready.json()]))
"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:9/chipreg",  # the discard port
        "CHIPREG_LOG_KEY_PATH": str(tmp_path / "log-key.pem"),
        "LOG_LEVEL": "CRITICAL",
    }
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    health, ready, body = json.loads(done.stdout.strip().splitlines()[-1])
    assert health == 200 and ready == 503
    assert body["checks"]["database"]["ok"] is False and "OperationalError" in body["checks"]["database"]["error"]
    assert body["checks"]["outbox"]["ok"] is False and body["checks"]["checkpoint"]["ok"] is False
    assert body["checks"]["log_key"]["ok"] is True  # not created yet, made on first use (development)
