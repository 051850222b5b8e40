"""Prometheus metrics that the code records as things happen (prometheus-client).

Apps call the one-line recorders here (statement_accepted, statement_rejected,
delivery_attempted); requests are counted by RequestMetricsMiddleware and
evaluation tasks through Celery's signals, so neither needs a hook in app code.
Figures read from the database (outbox lag, checkpoint age, readiness) are not
stored here: ops/metrics.py computes them when /metrics is scraped.

Several processes (gunicorn's workers, Celery's pool): with PROMETHEUS_MULTIPROC_DIR
set in the environment before start, every process writes its values to files
there and a scrape of any web worker sums them all (prometheus_client's
multiprocess mode). Workers on the same host that share the directory are
counted in the web's /metrics too. See deploy/prometheus/README.md.

Imports no app: config/celery.py imports it before Django is set up.
"""

import os
import re
import socket
import time
from pathlib import Path

from celery import signals
from prometheus_client import Counter, Histogram, disable_created_metrics, values

# `_created` series double every counter's output and no dashboard here reads them.
disable_created_metrics()

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")
MULTIPROCESS = bool(MULTIPROCESS_DIR)
# Each process's files are named by host and pid, not pid alone: containers that share the directory
# (deploy/compose.yaml: web and workers) each number their processes from 1, and two processes
# writing one file would corrupt it. No underscore: prometheus_client splits file names on it.
HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def process_identifier():
    return f"{HOST}-{os.getpid()}"


if MULTIPROCESS:  # before the first metric is made: each takes its value class when created
    os.makedirs(MULTIPROCESS_DIR, exist_ok=True)
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)


def prune_dead_process_files(directory=None):
    """Delete this host's metric files of processes that no longer run; return how many.

    Called when a service starts (gunicorn's on_starting, a Celery worker's init): the counts of
    processes gone since the last start leave the sums (Prometheus reads that as a counter reset,
    which rate() handles); without it, files of recycled workers pile up and slow every scrape.
    """
    directory = directory or MULTIPROCESS_DIR
    if not directory:
        return 0
    removed = 0
    for path in Path(directory).glob("*.db"):
        ident = path.stem.rsplit("_", 1)[-1]
        host, _, pid = ident.rpartition("-")
        if host != HOST or not pid.isdigit() or _alive(int(pid)):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


HTTP_REQUESTS = Counter(
    "chipreg_http_requests",
    "HTTP requests answered, by route (the URL pattern's name, never the raw path), method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "chipreg_http_request_duration_seconds",
    "Time to answer an HTTP request, by route.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
STATEMENTS_ACCEPTED = Counter(
    "chipreg_statements_accepted", "Signed statements accepted (201), by statement kind.", ["kind"]
)
STATEMENTS_REJECTED = Counter(
    "chipreg_statements_rejected", "Signed statements refused, by the problem's stable code.", ["code"]
)
STATEMENT_CHIPS = Histogram(
    "chipreg_statement_chips",
    "Chips per accepted statement, by statement kind.",
    ["kind"],
    buckets=(1, 8, 64, 512, 4096, 32768, 131072, 524288, 1048576),
)
EVALUATION_DURATION = Histogram(
    "chipreg_evaluation_duration_seconds",
    "Time a compliance evaluation task ran (incremental batches and the full evaluation), by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
EVALUATION_FAILURES = Counter(
    "chipreg_evaluation_failures", "Compliance evaluation tasks that ended in an exception, by task.", ["task"]
)
DELIVERY_DURATION = Histogram(
    "chipreg_delivery_duration_seconds",
    "Time one alert delivery try took (the webhook POST or the e-mail), by channel.",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DELIVERY_ATTEMPTS = Counter(
    "chipreg_delivery_attempts",
    "Alert delivery tries, by channel and outcome: delivered, retrying (failed, will retry) or dead (failed for good).",
    ["channel", "outcome"],
)


def recorded_exposition():
    """The text exposition of what was recorded: this process's, or with PROMETHEUS_MULTIPROC_DIR, the sum
    over every process that writes there (web workers, and Celery workers on the same host)."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    if not MULTIPROCESS:
        return generate_latest(REGISTRY)
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
    return generate_latest(registry)


# --- recorders: one line at the place where the thing happens -------------------------------------


def statement_accepted(kind, chips):
    STATEMENTS_ACCEPTED.labels(kind).inc()
    STATEMENT_CHIPS.labels(kind).observe(chips or 0)


def statement_rejected(code):
    STATEMENTS_REJECTED.labels(code).inc()


def delivery_attempted(channel, state, duration_ms):
    """One try of a delivery, after its outcome is known (`state`: the delivery's state after the try)."""
    outcome = {"delivered": "delivered", "dead": "dead"}.get(str(state), "retrying")
    DELIVERY_ATTEMPTS.labels(channel, outcome).inc()
    if duration_ms is not None:
        DELIVERY_DURATION.labels(channel).observe(duration_ms / 1000)


# --- requests ------------------------------------------------------------------------------------


def route_of(request):
    """The URL pattern a request matched, by name ("chip-detail", "admin:index"), never the raw path.

    A request answered before URL resolution (413 from the size limit, a 401 before the body) is
    resolved here; a path that matches no pattern is "unmatched", so scanners cannot grow the label set.
    """
    from django.urls import Resolver404, resolve

    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return "unmatched"
    return match.view_name or match.route or "unnamed"


class RequestMetricsMiddleware:
    """Counts every answer by route, method and status; times it by route. Second in MIDDLEWARE."""

    METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        route = route_of(request)
        method = request.method if request.method in self.METHODS else "other"
        HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        HTTP_DURATION.labels(route).observe(time.perf_counter() - started)
        return response


@signals.worker_init.connect(weak=False)
def _worker_starts(**_):
    if MULTIPROCESS:
        prune_dead_process_files()


# --- evaluation tasks, through Celery's signals -----------------------------------------------------

EVALUATION_TASKS = "compliance.tasks."  # the prefix of the compliance evaluation tasks' names
_started = {}  # task id -> perf_counter at prerun


def _is_evaluation(task):
    return getattr(task, "name", "").startswith(EVALUATION_TASKS)


@signals.task_prerun.connect(weak=False)
def _task_started(task_id=None, task=None, **_):
    if _is_evaluation(task):
        _started[task_id] = time.perf_counter()


@signals.task_postrun.connect(weak=False)
def _task_finished(task_id=None, task=None, state=None, **_):
    started = _started.pop(task_id, None)
    if started is None:
        return
    EVALUATION_DURATION.labels(task.name).observe(time.perf_counter() - started)
    # A worker reports FAILURE; an eager task that raised (the exception propagates to the caller)
    # reaches postrun with no state at all. A retry or a rejection is not a failure of evaluation.
    if state not in ("SUCCESS", "RETRY", "REJECTED", "IGNORED"):
        EVALUATION_FAILURES.labels(task.name).inc()
