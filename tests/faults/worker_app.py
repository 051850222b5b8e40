"""The Celery app that the fault tests' workers run: config.celery's own, plus test-only knobs.

Started as `celery -A tests.faults.worker_app worker ...` with the environment
of a real deployment (DATABASE_URL, REDIS_URL, eager off). Two knobs, read
from the environment, exist only here so that production code carries no
fault-injection hooks:

- CHIPREG_FAULT_VISIBILITY_TIMEOUT_S: how long Redis keeps a delivered but
  unacknowledged message before handing it to another worker (kombu's
  visibility_timeout, an hour by default), with the restore sweep made to run
  every second, so a test sees a killed worker's task come back in seconds;
- CHIPREG_FAULT_PAUSE_ONCE: a file path; the first batch of threshold alerts
  raised by any worker (evaluation raises a scope's alerts in batches, one
  transaction each) creates it and then sleeps CHIPREG_FAULT_PAUSE_S (default
  60), so that a test can kill the worker in the middle of an evaluation (some
  alerts committed, others not yet). Later batches, in any process, find the
  file and do not pause.
- CHIPREG_FAULT_DB_ERROR_ONCE: a file path; the first evaluation any worker starts creates it and fails
  as a dropped database connection does (django.db.OperationalError), so that a test sees the task retried.
"""

import os
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from config.celery import app  # noqa: E402

_visibility = os.environ.get("CHIPREG_FAULT_VISIBILITY_TIMEOUT_S")
if _visibility:
    app.conf.broker_transport_options = {
        **(app.conf.broker_transport_options or {}),
        "visibility_timeout": float(_visibility),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }

_pause_marker = os.environ.get("CHIPREG_FAULT_PAUSE_ONCE")
if _pause_marker:
    from compliance import evaluation

    _raise_many = evaluation._raise_many

    def _raise_then_pause(*args, **kwargs):
        alerts = _raise_many(*args, **kwargs)  # one batch, committed (its deliveries queued) when this returns
        if not alerts:
            return alerts
        try:
            fd = os.open(_pause_marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return alerts
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        time.sleep(float(os.environ.get("CHIPREG_FAULT_PAUSE_S", "60")))
        return alerts

    evaluation._raise_many = _raise_then_pause
    assert Path(_pause_marker).parent.is_dir()

_db_error_marker = os.environ.get("CHIPREG_FAULT_DB_ERROR_ONCE")
if _db_error_marker:
    from django.db import OperationalError

    from compliance import evaluation

    _evaluate = evaluation.evaluate

    def _fail_once(*args, **kwargs):
        try:
            os.close(os.open(_db_error_marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            return _evaluate(*args, **kwargs)
        raise OperationalError("server closed the connection unexpectedly (injected by the fault test)")

    evaluation.evaluate = _fail_once

__all__ = ["app"]
