"""The request id: taken from X-Request-ID when sane, else made; echoed; in every JSON log line the request
causes, and in the logs of the Celery tasks it queues, in-process (eager) and through a broker to a worker."""

import io
import json
import logging

import pytest
from kombu import Connection

from config.celery import app
from core.logging import TASK_HEADER, JsonFormatter, new_request_id
from tests.ops.tasks import echo_request_id


@pytest.fixture
def json_log():
    """Every log line the code writes, through the formatter settings.LOGGING installs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level, root.level = root.level, logging.INFO
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.level = old_level


def test_settings_log_json():
    from django.conf import settings

    assert settings.LOGGING["formatters"]["json"]["()"] == "core.logging.JsonFormatter"
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"


def test_a_sane_request_id_is_kept_and_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42:edge")
    assert response["X-Request-ID"] == "lb-7f3a.42:edge"


@pytest.mark.parametrize(
    "sent",
    [None, "", "a b", "x" * 129, "id\r\nSet-Cookie: a=b", "<script>", "-starts-with-a-dash", "é"],
)
def test_anything_else_is_replaced_by_a_fresh_id(client, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    first = client.get("/healthz", **headers)["X-Request-ID"]
    second = client.get("/healthz", **headers)["X-Request-ID"]
    assert first != sent and len(first) == 32 and int(first, 16) >= 0
    assert first != second  # made per request


@pytest.mark.django_db
def test_log_lines_are_json_with_the_request_id(client, json_log):
    response = client.get("/api/v1/chips/nvidia:NOPE/", HTTP_X_REQUEST_ID="req-404-check")
    assert response.status_code in (401, 403, 404)
    lines = [line for line in json_log() if line["logger"] == "django.request"]
    assert lines, json_log()
    line = lines[-1]
    assert {"time", "level", "logger", "message", "request_id"} <= set(line)
    assert line["request_id"] == "req-404-check" and line["level"] == "WARNING"
    assert line["status_code"] == response.status_code  # an extra, as a field
    assert "request" not in line  # the request object itself is not dumped


def test_extras_and_exceptions_become_fields(json_log):
    log = logging.getLogger("tests.ops")
    log.info("counted %d", 3, extra={"chips": 3, "facility": "US-VA-001"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    info, error = json_log()[-2:]
    assert info["message"] == "counted 3" and info["chips"] == 3 and info["facility"] == "US-VA-001"
    assert info["request_id"] is None and info["time"].endswith("+00:00")
    assert error["level"] == "ERROR" and "ValueError: boom" in error["exc_info"]


@pytest.mark.django_db
def test_an_eager_task_logs_the_id_of_the_request_that_queued_it(client, settings, json_log):
    settings.ROOT_URLCONF = "tests.ops.urls"
    assert app.conf.task_always_eager  # the suite's mode (scripts/run-tests.sh)
    response = client.get("/ops-test/queue/", HTTP_X_REQUEST_ID="req-eager-1")
    assert response.status_code == 200 and response.json() == {"task_saw": "req-eager-1"}
    [line] = [line for line in json_log() if line["logger"] == "tests.ops.tasks"]
    assert line["request_id"] == "req-eager-1" and line["note"] == "from a request"
    assert line["task"] == "tests.ops.tasks.echo_request_id" and line["task_id"]


@pytest.fixture
def published():
    """Tasks are sent to a broker, not run in-process, for the test's duration."""
    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    yield
    app.conf.task_always_eager = eager


def test_through_a_broker_the_id_rides_in_the_message_and_the_worker_logs_it(json_log, published):
    """Published for real (kombu's in-memory transport), received and run by Celery's worker code."""
    from celery.worker.request import Request

    from core import logging as request_ids

    request_id = new_request_id()
    with Connection("memory://") as conn:
        token = request_ids._request_id.set(request_id)  # what RequestIdMiddleware does for a request
        try:
            echo_request_id.apply_async(("through the broker",), connection=conn, queue="ops-test")
        finally:
            request_ids._request_id.reset(token)
        assert request_ids.get_request_id() is None
        message = conn.SimpleQueue("ops-test").get(timeout=5)
    assert message.headers[TASK_HEADER] == request_id
    Request(message, app=app, task=echo_request_id).execute()  # as the worker's solo pool runs it
    [line] = [line for line in json_log() if line["logger"] == "tests.ops.tasks"]
    assert line["request_id"] == request_id and line["note"] == "through the broker"
    assert request_ids.get_request_id() is None  # reset after the task


def test_a_forged_header_in_a_message_is_not_logged_as_is(json_log, published):
    from celery.worker.request import Request

    with Connection("memory://") as conn:
        echo_request_id.apply_async(
            ("forged",), connection=conn, queue="ops-test2", headers={TASK_HEADER: "bad id\nlevel=ERROR"}
        )
        message = conn.SimpleQueue("ops-test2").get(timeout=5)
    Request(message, app=app, task=echo_request_id).execute()
    [line] = [line for line in json_log() if line["logger"] == "tests.ops.tasks"]
    assert line["request_id"] is None


@pytest.mark.redis
def test_a_real_worker_logs_the_request_id_in_json(tmp_path, published):
    """`celery worker` as deployed (its own process, Redis as broker, settings.LOGGING), one task queued
    under a request id: the worker's JSON log line for that task carries it."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import uuid
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    queue = f"ops-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "0", "PYTHONPATH": str(root), "LOG_FORMAT": "json"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--pool=solo",
             "-I", "tests.ops.tasks", "-l", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:

        def lines():
            out = []
            for line in log_path.read_text().splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue  # the banner and warnings Celery prints before logging is set up
            return out

        def wait_for(predicate, what):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                found = [line for line in lines() if predicate(line)]
                if found:
                    return found
                assert worker.poll() is None, log_path.read_text()
                time.sleep(0.2)
            raise AssertionError(f"no {what} in 60 s:\n{log_path.read_text()[-3000:]}")

        wait_for(lambda line: line["message"].endswith(" ready."), "worker ready")
        from core import logging as request_ids

        request_id = new_request_id()
        token = request_ids._request_id.set(request_id)
        try:
            with app.connection_for_write(os.environ["REDIS_URL"]) as conn:
                echo_request_id.apply_async(("in a worker",), connection=conn, queue=queue)
        finally:
            request_ids._request_id.reset(token)
        [line] = wait_for(lambda line: line["logger"] == "tests.ops.tasks", "task log line")
        assert line["request_id"] == request_id and line["note"] == "in a worker"
        assert line["task"] == "tests.ops.tasks.echo_request_id" and {"time", "level"} <= set(line)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
