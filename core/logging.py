"""JSON logs, one object per line, each carrying the id of the request it serves.

The request id comes from the client's X-Request-ID when it is a plain token
(so a caller or nginx can correlate its own logs with ours), else it is made
here; it is returned in the response's X-Request-ID. Work that a request
queues on Celery carries the id in a task header, so a worker's log lines say
which request caused them, and the tasks those tasks queue carry it on.

Imports no app and no Django model: config/celery.py imports this module (for
its Celery signal handlers) before Django is set up.
"""

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

from celery import signals

HEADER = "X-Request-ID"
TASK_HEADER = "chipreg_request_id"
# What a client may send as a request id: short, printable, no spaces or quotes, so it can be
# echoed into a header and a log line as it is. Anything else is replaced, not rejected.
VALID_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}")

_request_id = contextvars.ContextVar("chipreg_request_id", default=None)
_task = contextvars.ContextVar("chipreg_task", default=None)  # (task name, task id) while a task runs


def get_request_id():
    return _request_id.get()


def new_request_id():
    return uuid.uuid4().hex


def valid_request_id(value):
    return isinstance(value, str) and VALID_ID.fullmatch(value) is not None


class RequestIdMiddleware:
    """Sets the request id for everything the request logs or queues; echoes it in the response.

    First in MIDDLEWARE, so that what every other middleware logs carries it too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.META.get("HTTP_X_REQUEST_ID")
        request_id = sent if valid_request_id(sent) else new_request_id()
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response[HEADER] = request_id
        return response


# --- JSON lines -----------------------------------------------------------------------------------

# LogRecord's own attributes; anything else on a record came from `extra=` and is logged as a field.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)).keys()
    | {"message", "asctime", "request_id", "request"}  # the request object: its id is logged, not its repr
)


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, then the task (in a worker) and any `extra=` fields."""

    def format(self, record):
        # django.request logs a 4xx/5xx after the middleware is left, with the request as an extra.
        request = record.__dict__.get("request")
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": (
                getattr(record, "request_id", None) or getattr(request, "request_id", None) or _request_id.get()
            ),
        }
        task = _task.get()
        if task is not None:
            entry["task"], entry["task_id"] = task
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


# --- Celery: the id travels in a task header ------------------------------------------------------


@signals.before_task_publish.connect(weak=False)
def _stamp_request_id(headers=None, **_):
    """A task queued while serving a request (or while running a task that has one) carries its id."""
    request_id = _request_id.get()
    if request_id is not None and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


def _task_request_id(task):
    request = getattr(task, "request", None)
    if request is None:
        return None
    # On a worker, custom message headers become attributes of the task's request;
    # a task applied in-process (eager) keeps them in request.headers.
    value = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    return value if valid_request_id(value) else None


@signals.task_prerun.connect(weak=False)
def _enter_task(task_id=None, task=None, **_):
    # An eager task runs inside the request that queued it: the id it already has is the right one.
    request_id = _task_request_id(task) or _request_id.get()
    tokens = (_request_id.set(request_id), _task.set((getattr(task, "name", None), task_id)))
    _open_tasks[task_id] = tokens


@signals.task_postrun.connect(weak=False)
def _leave_task(task_id=None, **_):
    tokens = _open_tasks.pop(task_id, None)
    if tokens is not None:
        _task.reset(tokens[1])
        _request_id.reset(tokens[0])


_open_tasks = {}  # task id -> context tokens, from prerun to postrun (same thread, same context)


@signals.setup_logging.connect(weak=False)
def _worker_logging(loglevel=None, **_):
    """Workers and beat log as the web does (settings.LOGGING), instead of Celery's own format.

    Connecting this receiver is what stops Celery from replacing the root logger's handlers. Celery's
    own loggers keep the command line's `--loglevel`: its "ready." line is how supervisors (and the
    benches, the fault tests) know a worker serves, whatever LOG_LEVEL the rest logs at."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger("celery").setLevel(loglevel)
