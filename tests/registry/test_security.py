"""Rate limits, security headers, no tokens in logs, production settings."""

import logging
import re
import subprocess
import sys

import pytest
from django.core.cache import cache

from core.throttling import PerAddressThrottle, PerTokenThrottle


def clear_counters():
    """Empty this run's cache keys (the limits' counters), and only those: on a shared Redis, cache.clear()
    flushes the whole database, the counters of every other test run and xdist worker with it (each counts
    under its own KEY_PREFIX)."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        cache.clear()  # a per-process cache: this run's alone
        return
    client = backend._cache.get_client(write=True)
    pattern = re.sub(r"([\\*?\[\]])", r"\\\1", backend.key_prefix) + ":*"
    keys = list(client.scan_iter(match=pattern, count=1000))
    if keys:
        client.delete(*keys)


def limits(monkeypatch, token, address):
    clear_counters()
    rates = {"token": token, "address": address}
    monkeypatch.setattr(PerTokenThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(PerAddressThrottle, "THROTTLE_RATES", rates)


@pytest.fixture
def tight_limits(monkeypatch):
    limits(monkeypatch, "1000/min", "5/min")
    yield
    clear_counters()


def test_rate_limit_per_token(api, parties, monkeypatch):
    limits(monkeypatch, "3/min", "1000/min")
    client = api(parties.users["op_a_member"])
    codes = [client.get("/api/v1/chips/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get("/api/v1/chips/")
    assert response["Content-Type"] == "application/problem+json" and response.json()["code"] == "rate_limited"
    assert "Retry-After" in response
    # Another token has its own allowance.
    assert api(parties.users["op_a_admin"]).get("/api/v1/chips/").status_code == 200


def test_rate_limit_per_address(client, db, tight_limits):
    codes = [client.get("/api/v1/log/key").status_code for _ in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429


def test_rate_limit_per_address_counts_an_ipv6_host_by_its_64(client, db, tight_limits):
    """One IPv6 host or home network is given a /64 (2**64 addresses): counted per address, each request from a
    fresh one had a fresh limit. Another /64 is another sender; an IPv4 address written as IPv6 is that address."""
    codes = [client.get("/api/v1/log/key", REMOTE_ADDR=f"2001:db8:5:6::{i + 1:x}").status_code for i in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429
    assert client.get("/api/v1/log/key", REMOTE_ADDR="2001:db8:5:7::1").status_code == 200
    mapped = [client.get("/api/v1/log/key", REMOTE_ADDR=a).status_code for a in ["198.51.100.9"] * 5]
    assert mapped == [200] * 5
    assert client.get("/api/v1/log/key", REMOTE_ADDR="::ffff:198.51.100.9").status_code == 429


def test_security_headers(client, db):
    response = client.get("/api/v1/log/key")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_tokens_are_never_logged(api, parties, caplog):
    caplog.set_level(logging.DEBUG)
    client = api(parties.users["op_a_member"])
    client.get("/api/v1/chips/nvidia:NOPE123/")
    client.get("/api/v1/chips/")
    assert client.token not in caplog.text


def test_production_settings_pass_check_deploy(tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings_production",
        "SECRET_KEY": "x" * 30 + "-production-secret-key-for-the-check-only",
        "TOKEN_HASH_KEY": "y" * 60,
        "ALLOWED_HOSTS": "registry.example.org",
        "CHIPREG_VAR_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_the_development_key(tmp_path):
    env = {"DJANGO_SETTINGS_MODULE": "config.settings_production", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_rate_limit_slides_over_the_previous_window(db, monkeypatch):
    """The previous window still counts for the part of it the sliding window covers; refusals don't count."""
    from django.test import RequestFactory

    limits(monkeypatch, "1000/min", "10/min")
    clock = [6000.0]  # the start of a one-minute window
    monkeypatch.setattr(PerAddressThrottle, "timer", lambda self: clock[0])
    request = RequestFactory().get("/api/v1/chips/", REMOTE_ADDR="192.0.2.9")

    def ask():
        throttle = PerAddressThrottle()
        return throttle.allow_request(request, None), throttle

    assert all(ask()[0] for _ in range(10))
    allowed, throttle = ask()
    assert not allowed
    assert 60 <= throttle.wait() <= 120
    assert [ask()[0] for _ in range(5)] == [False] * 5  # refused requests are not counted
    clock[0] += 90  # half-way through the next window: 10 * 0.5 of the last window still counts
    assert [ask()[0] for _ in range(6)] == [True] * 5 + [False]
    clock[0] += 60  # two windows on: only the 5 of the last window, weighted by half
    assert [ask()[0] for _ in range(8)] == [True] * 7 + [False]
    clear_counters()


def test_a_request_counts_against_both_limits_at_once(api, parties, monkeypatch):
    """The view's limits are counted together (one round trip), each under its own key, once per request."""
    import time

    from registry.models import APIToken
    from registry.models.tokens import token_digest

    limits(monkeypatch, "1000/min", "1000/min")
    client = api(parties.users["op_a_member"])
    window = int(time.time() // 60)
    for _ in range(3):
        assert client.get("/api/v1/chips/").status_code == 200
    token = APIToken.objects.get(digest=token_digest(client.token))

    def counted(ident):  # the requests may straddle a minute
        return sum(cache.get(f"throttle_{ident}:{w}") or 0 for w in (window, window + 1))

    assert counted(f"token_{token.pk}") == 3
    assert counted("address_127.0.0.1") == 3
    clear_counters()
