"""The two small pieces the fault tests needed, checked without any service: which database
errors are an outage (503), and rate limits that keep counting when their cache is gone."""

import json
import sqlite3

import psycopg
import pytest
import redis
from django.db import IntegrityError, InterfaceError, OperationalError
from django.test import RequestFactory

from core.middleware import DatabaseUnavailableMiddleware
from core.throttling import PerAddressThrottle


def wrapped(django_cls, cause):
    try:
        try:
            raise cause
        except Exception as exc:
            raise django_cls(str(exc)) from exc
    except django_cls as exc:
        return exc


@pytest.mark.parametrize(
    "error,outage",
    [
        (wrapped(OperationalError, psycopg.OperationalError("connection refused")), True),
        (wrapped(OperationalError, psycopg.errors.AdminShutdown("terminating connection")), True),
        (wrapped(OperationalError, psycopg.errors.CannotConnectNow("the database system is starting up")), True),
        (wrapped(OperationalError, psycopg.errors.TooManyConnections("too many clients")), True),
        (wrapped(InterfaceError, psycopg.InterfaceError("connection already closed")), True),
        (wrapped(OperationalError, psycopg.errors.DeadlockDetected("deadlock")), False),
        (wrapped(OperationalError, sqlite3.OperationalError("no such table: x")), False),
        (wrapped(IntegrityError, psycopg.errors.UniqueViolation("duplicate")), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_an_unreachable_database_is_a_503(error, outage):
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    api = middleware.process_exception(RequestFactory().post("/api/v1/chips/"), error)
    page = middleware.process_exception(RequestFactory().get("/facilities/"), error)
    if not outage:
        assert api is None and page is None
        return
    assert api.status_code == 503 and api["Content-Type"] == "application/problem+json"
    assert api["Retry-After"] == "5"
    assert json.loads(api.content)["code"] == "database_unavailable"
    assert page.status_code == 503 and page["Content-Type"].startswith("text/plain")


def test_rate_limit_counts_in_process_while_its_cache_is_down(settings, monkeypatch):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # fmt: skip
    monkeypatch.setattr(PerAddressThrottle, "THROTTLE_RATES", {"address": "2/min"})
    request = RequestFactory().get("/api/v1/chips/", REMOTE_ADDR="192.0.2.7")
    from django.core.cache import cache

    with pytest.raises(redis.exceptions.ConnectionError):
        cache.get("anything")  # the shared cache is unreachable...
    # ...and the limit still holds, per process, instead of the request failing.
    assert [PerAddressThrottle().allow_request(request, None) for _ in range(3)] == [True, True, False]
