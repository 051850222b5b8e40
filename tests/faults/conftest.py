"""Fixtures of the fault tests: private services, real workers, and the test process pointed at them.

The tests commit for real (transactional database) so that worker processes
see what the test wrote; every child process and temporary folder is removed
at teardown, pass or fail, and the logs of a failed test are printed first.
"""

import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from tests.faults.support import CeleryWorker, Receiver, RedisServer, database_url, worker_env


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request):
    reports = (getattr(request.node, f"rep_{when}", None) for when in ("setup", "call"))
    return any(report is not None and report.failed for report in reports)


@pytest.fixture
def fault_dir(request):
    """A temporary folder for logs, keys and data; its logs are printed when the test failed, then it is removed."""
    path = Path(tempfile.mkdtemp(prefix="chipreg-faults-"))
    path.chmod(0o755)
    yield path
    if _failed(request):
        for log in sorted(path.rglob("*.log")):
            with contextlib.suppress(OSError):
                sys.stderr.write(
                    f"\n===== {log.name} (last 6000 chars) =====\n{log.read_text(errors='replace')[-6000:]}\n"
                )
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def _restore_catalog_after_flush(request, django_db_blocker):
    """tests/conftest.py's, for the modules here that flush (transactional tests) only: the others may have no
    test database at all."""
    yield
    marks = [m for m in getattr(request.module, "pytestmark", []) if m.name == "django_db"]
    if any(m.kwargs.get("transaction") for m in marks):
        from registry.catalog import load_catalog

        with django_db_blocker.unblock():
            load_catalog()


@pytest.fixture
def parties(catalog, parties):
    """tests/conftest.py's parties, after the catalog (its manufacturers) is back."""
    return parties


@pytest.fixture
def private_redis(fault_dir):
    server = RedisServer(fault_dir)  # skips (loudly) without redis-server
    try:
        yield server.start()
    finally:
        server.stop()


def _reset_producer(app):
    import kombu.pools

    with contextlib.suppress(Exception):
        if app._pool is not None:
            app._pool.force_close_all()
    app._pool = None
    with contextlib.suppress(AttributeError, KeyError):
        app.__dict__["amqp"]._producer_pool = None
    # kombu keeps a producer pool per broker connection in a registry of its own, over the connection pool just
    # closed: left there, the next task sent to that broker (eager ones too: Celery takes a producer for them)
    # fails with "Acquire on closed pool", and a later test's outbox relay leaves its events pending.
    kombu.pools.reset()


@pytest.fixture
def broker(private_redis, settings, fault_dir):
    """This process as a web process of a real deployment: eager off, broker and cache on the private Redis."""
    from config.celery import app
    from transparency.checkpoints import log_private_key

    # Read before the settings change: Celery reads its configuration from Django's settings lazily, so read
    # after, these would be the test's values, put back as the suite's (eager off for every test after).
    conf = app.conf
    saved = {"broker_url": conf.broker_url, "task_always_eager": conf.task_always_eager}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = private_redis.url
    settings.REDIS_URL = private_redis.url
    # The workers read CHIPREG_CACHE_KEY_PREFIX from the environment: the same keys on both sides.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": private_redis.url,
            "KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", ""),
        }
    }
    settings.CHIPREG_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CHIPREG_WEBHOOK_KEY_PATH = fault_dir / "webhook-key.pem"
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 0
    log_private_key()  # created here, before any worker could race to create it
    from compliance.delivery.signing import webhook_private_key

    webhook_private_key()

    _reset_producer(app)
    conf.update(broker_url=private_redis.url, task_always_eager=False)
    try:
        yield private_redis
    finally:
        _reset_producer(app)
        conf.update(saved)


@pytest.fixture
def test_database_url(transactional_db):
    from django.db import connection

    assert connection.vendor == "postgresql", "fault tests run against PostgreSQL"
    return database_url(connection.settings_dict)


@pytest.fixture
def workers(transactional_db, broker, test_database_url, settings, fault_dir):
    """start(name, **env) -> a ready CeleryWorker on the private Redis and the test database.

    Depends on transactional_db so that the workers are gone before the tables are flushed.
    """
    started = []

    def start(name="worker", wait=True, **extra_env):
        env = worker_env(broker.url, test_database_url, settings, fault_dir, **extra_env)
        worker = CeleryWorker(env, fault_dir, name)
        started.append(worker)
        return worker.wait_ready() if wait else worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def receivers():
    made = []

    def make(**kwargs):
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()
