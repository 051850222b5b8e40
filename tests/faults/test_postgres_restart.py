"""PostgreSQL restarted while requests are in flight: 503 problem details, no partial rows, service resumes by itself.

A private PostgreSQL cluster (never the machine's own server) holds a copy
of the test database's schema; gunicorn serves the registry from it with
persistent connections. Threads register chip batches and post signed
location statements without pause while the cluster is restarted (fast
shutdown: every session is terminated, then the server is down for a moment).

Every answer is a success or a 503 problem detail with the code
`database_unavailable` (never a 500, never a dropped connection); after the
restart gunicorn, not restarted, answers every request again; and nothing
was half written: each chip batch is whole or absent, each statement has all
of its sightings, the transparency log has no gap.
"""

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.attestations import independent as ind
from tests.factories import chip_rows
from tests.faults.support import REPO, Gunicorn, PostgresCluster, pg_bin, wait_until

# django_db: pytest-django creates the test database (the schema copied below) only for tests that ask.
pytestmark = [pytest.mark.django_db]

THREADS = 6
SERVER_THREADS = 8  # gunicorn: 2 workers of 4 threads, one persistent connection each
BATCH = 200  # chips per registration request
SIGHTED = 5  # chips per location statement
LOAD_BEFORE_S = 1.5
LOAD_AFTER_S = 2.5


def ts(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Answer:
    kind: str  # "chips" or "attestation"
    tag: str  # the batch's serial prefix, or the statement's nonce
    started: float
    ended: float
    status: int = 0  # 0: no HTTP answer at all
    content_type: str = ""
    retry_after: str | None = None
    body: object = None
    error: str = ""


class Client:
    def __init__(self, port, token):
        self.port, self.token = port, token

    def call(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = raw[:500]
            return response.status, response.getheader("content-type", ""), response.getheader("retry-after"), data
        finally:
            conn.close()

    def timed(self, kind, tag, method, path, body=None):
        answer = Answer(kind, tag, time.monotonic(), 0.0)
        try:
            answer.status, answer.content_type, answer.retry_after, answer.body = self.call(method, path, body)
        except (OSError, http.client.HTTPException) as exc:
            answer.error = f"{type(exc).__name__}: {exc}"
        answer.ended = time.monotonic()
        return answer


@pytest.fixture
def private_postgres(fault_dir):
    cluster = PostgresCluster(fault_dir / "pg")  # skips (loudly) without initdb
    try:
        cluster.init().start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def served(private_postgres, django_db_setup, fault_dir):
    """gunicorn on the private cluster, whose database has the test database's schema; yields (gunicorn, token)."""
    import psycopg
    from django.db import connection

    source = connection.settings_dict
    with psycopg.connect(private_postgres.url("postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE chipreg")
    dump = subprocess.run(
        [pg_bin("pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
         "-h", source.get("HOST") or "127.0.0.1", "-p", str(source.get("PORT") or 5432),
         "-U", source.get("USER") or "postgres", source["NAME"]],
        capture_output=True, check=True, timeout=60, env={**os.environ, "PGPASSWORD": source.get("PASSWORD") or ""},
    )  # fmt: skip
    subprocess.run(
        [pg_bin("psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", private_postgres.url("chipreg")],
        input=dump.stdout, capture_output=True, check=True, timeout=60,
    )  # fmt: skip

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    for name in ("REDIS_URL", "DATABASE_REPLICA_URL", "CHIPREG_TEST_DB_NAME"):
        env.pop(name, None)
    env.update(
        PYTHONPATH=str(REPO),
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=private_postgres.url("chipreg"),
        DATABASE_CONN_MAX_AGE="60",  # persistent connections: they all die in the restart
        CELERY_TASK_ALWAYS_EAGER="1",
        CHIPREG_VAR_DIR=str(fault_dir),
        CHIPREG_LOG_KEY_PATH=str(fault_dir / "log-key.pem"),
        CHIPREG_WEBHOOK_KEY_PATH=str(fault_dir / "webhook-key.pem"),
    )
    seeded = subprocess.run(
        [sys.executable, "-m", "tests.faults.pg_seed"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    token = json.loads(seeded.stdout.strip().splitlines()[-1])["token"]

    server = Gunicorn(env, fault_dir)
    try:
        client = Client(server.port, token)
        wait_until(lambda: client.call("GET", "/api/v1/chips/?limit=1")[0] == 200, 60, "gunicorn to serve")
        yield server, client
    finally:
        server.stop()


def test_postgres_restart_mid_requests_gives_503_then_recovers_without_partial_rows(private_postgres, served):
    server, client = served
    status, *_ = client.call(
        "POST", "/api/v1/facilities/",
        {"code": "PG-1", "name": "PG-1", "country": "US", "latitude": 38.95, "longitude": -77.45},
    )  # fmt: skip
    assert status == 201
    key = ed25519.Ed25519PrivateKey.generate()
    status, *_ = client.call("POST", "/api/v1/keys/", {"public_key": ind.public_pem(key)})
    assert status == 201

    answers, lock, stop = [], threading.Lock(), threading.Event()

    def load(i):
        registered, n = [], 0
        while not stop.is_set():
            n += 1
            prefix = f"PGR{i:02d}N{n:04d}S"
            answer = client.timed("chips", prefix, "POST", "/api/v1/chips/", chip_rows(prefix, BATCH))
            if answer.status == 201:
                registered = [f"nvidia:{prefix}{k:06d}" for k in range(SIGHTED)]
            mine = [answer]
            if registered:
                issued = datetime.now(UTC).replace(microsecond=0)
                nonce = ind.nonce()
                statement = {
                    "v": 1, "kind": "location", "operator": "op-pg", "facility": "PG-1", "issued_at": ts(issued),
                    "nonce": nonce, "observed_at": ts(issued - timedelta(seconds=30)), "scope": "partial",
                    "chips": [{"chip": c} for c in registered],
                }  # fmt: skip
                mine.append(client.timed("attestation", nonce, "POST", "/api/v1/attestations/",
                                         ind.envelope(statement, key)))  # fmt: skip
            with lock:
                answers.extend(mine)

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(LOAD_BEFORE_S)
    restart_started = time.monotonic()
    private_postgres.restart("fast")
    restart_ended = time.monotonic()
    time.sleep(LOAD_AFTER_S)
    stop.set()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)

    # 1. Every answer: a success, or a 503 problem detail. No 500, no connection dropped.
    dropped = [a for a in answers if a.status == 0]
    assert not dropped, [a.error for a in dropped][:5]
    unexpected = [(a.kind, a.status, a.body) for a in answers if a.status not in (200, 201, 503)]
    assert not unexpected, unexpected[:5]
    unavailable = [a for a in answers if a.status == 503]
    for a in unavailable:
        assert a.content_type.startswith("application/problem+json"), a.content_type
        assert a.body["status"] == 503 and a.body["code"] == "database_unavailable", a.body
        assert a.retry_after is not None
    assert unavailable, "no request was in flight during the restart: the fault was not exercised"
    assert all(a.ended >= restart_started for a in unavailable)

    # 2. It resumed by itself: everything sent once the server was back succeeded, and there was plenty of it.
    after = [a for a in answers if a.started > restart_ended + 0.2]
    assert len(after) >= THREADS and all(a.status in (200, 201) for a in after), [
        (a.kind, a.status, a.body) for a in after if a.status not in (200, 201)
    ][:5]
    assert "Internal Server Error" not in server.text()

    # 3. A restart while every connection is idle costs no request at all: stale connections are replaced first.
    def burst():
        with ThreadPoolExecutor(SERVER_THREADS) as pool:
            return list(pool.map(lambda _: client.call("GET", "/api/v1/chips/?limit=1")[0], range(SERVER_THREADS * 2)))

    assert set(burst()) == {200}  # every server thread now holds a persistent connection
    private_postgres.restart("fast")
    assert set(burst()) == {200}

    # 4. Nothing half written.
    import psycopg

    with psycopg.connect(private_postgres.url("chipreg")) as conn:
        chips_by_prefix = dict(
            conn.execute(
                "SELECT left(serial, 11), count(*) FROM registry_chip WHERE serial LIKE 'PGR%' GROUP BY 1"
            ).fetchall()
        )
        batches = conn.execute(
            "SELECT b.created, count(c.id) FROM registry_registrationbatch b "
            "LEFT JOIN registry_chip c ON c.batch_id = b.id GROUP BY b.id, b.created"
        ).fetchall()
        statements = conn.execute(
            "SELECT a.id, a.chip_count, count(s.id), a.log_index FROM attestations_attestation a "
            "LEFT JOIN attestations_sighting s ON s.attestation_id = a.id GROUP BY a.id"
        ).fetchall()
        nonces = {r[0] for r in conn.execute("SELECT nonce FROM attestations_statementnonce").fetchall()}
        head = conn.execute("SELECT size FROM transparency_loghead WHERE id = 1").fetchone()[0]
        leaves, last = conn.execute('SELECT count(*), max("index") FROM transparency_logleaf').fetchone()

    for a in (a for a in answers if a.kind == "chips"):
        stored = chips_by_prefix.get(a.tag[:11], 0)
        if a.status == 201:
            assert stored == BATCH, (a.tag, stored)
        else:  # refused, or committed as the server went down (the client could not know): never a part
            assert stored in (0, BATCH), (a.tag, stored)
    assert batches and all(created == chips for created, chips in batches)
    for _id, chip_count, sightings, log_index in statements:
        assert sightings == chip_count == SIGHTED and log_index is not None
    accepted = {a.tag for a in answers if a.kind == "attestation" and a.status == 201}
    assert accepted and accepted <= nonces
    assert head == leaves == last + 1  # the log: no gap, no leaf beyond its head
