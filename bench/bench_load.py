"""A mixed load from a separate process against gunicorn, with a worker evaluating.

Issue: "a mixed load (node agents attesting, inspectors reading, alerts
evaluating) from a separate process for 60 s against gunicorn on loopback;
throughput, p50/p95/p99 and error count (target: zero errors)."

- Server: gunicorn config.wsgi (2 sync workers) and a real Celery worker
  (`-Q ingest,evaluate,notify -c 1`), both non-eager on a private Redis
  database, so every placement change and usage report is evaluated against
  the presets by the worker, as in production.
- World: one facility of N placed chips (over the covered-cluster threshold
  once evaluated) and 4 x 32 agent nodes of 8 chips, unplaced at the start.
- Load generator: a separate process (`python -m bench.bench_load`) with 7 threads,
  closed loop, one connection per request: 4 node agents (each round-robin
  over its 32 nodes, alternating a location statement and a usage statement
  of the next 10-minute period, signed as they go), 2 inspectors (a chip
  lookup, then the first facility inventory page), 1 alert reader (open
  alerts, then facility aggregates). Errors: any answer other than 200/201,
  or no answer. Latency is per request, end to end, at the client.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import scale as world
from bench.core import Result, percentile

NAME = "load"
OPERATOR, FACILITY = "load-op", "LOAD-A"
CLUSTERS = ("c-00", "c-01", "c-02", "c-03")
AGENTS, INSPECTORS, ALERT_READERS = 4, 2, 1
NODES, NODE_CHIPS = 32, 8
SERVER_ENV = {"CHIPREG_RATE_PER_TOKEN": "10000000/min", "CHIPREG_RATE_PER_ADDRESS": "10000000/min"}


# --- the load generator (runs in its own process; no Django) -------------------------------


def generate(config_path, out_path):
    import http.client

    from cryptography.hazmat.primitives.asymmetric import ed25519

    from bench.scale import envelope_bytes, location_statement, usage_statement

    config = json.loads(Path(config_path).read_text())
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(config["key"]))
    port = config["port"]
    stop_at = time.perf_counter() + config["seconds"]
    usage_t0 = datetime.fromisoformat(config["usage_t0"])
    records = []  # (kind, ms, status)
    lock = threading.Lock()

    def call(kind, method, path, token, body=None):
        start = time.perf_counter()
        status = 0
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
            conn.close()
        except OSError:
            status = 0
        with lock:
            records.append((kind, (time.perf_counter() - start) * 1000, status))

    def agent(a):
        k = 0
        while time.perf_counter() < stop_at:
            node, rnd = k % NODES, k // NODES
            chips = config["nodes"][a * NODES + node]
            if rnd % 2 == 0:
                listed = [(c, CLUSTERS[node % len(CLUSTERS)]) for c in chips]
                statement = location_statement(OPERATOR, FACILITY, listed)
                kind = "agent: location statement"
            else:
                start = usage_t0 + timedelta(minutes=10 * (rnd // 2))
                rows = [(c, 300.0, 0.5, 90_000.0) for c in chips]
                statement = usage_statement(OPERATOR, FACILITY, rows, start, start + timedelta(minutes=10))
                kind = "agent: usage statement"
            call(kind, "POST", "/api/v1/attestations/", config["operator_token"], envelope_bytes(statement, key))
            k += 1

    def inspector(i):
        rng = random.Random(i)
        while time.perf_counter() < stop_at:
            chip = rng.choice(config["book"])
            call("inspector: chip lookup", "GET", f"/api/v1/chips/{chip}/", config["inspector_token"])
            call(
                "inspector: facility page",
                "GET",
                f"/api/v1/facilities/{FACILITY}/inventory/?limit=100",
                config["inspector_token"],
            )

    def alert_reader(_):
        while time.perf_counter() < stop_at:
            call("reader: open alerts", "GET", "/api/v1/alerts/?state=open", config["inspector_token"])
            call("reader: aggregates", "GET", "/api/v1/aggregates/?scope=facility", config["inspector_token"])

    threads = [threading.Thread(target=agent, args=(a,)) for a in range(AGENTS)]
    threads += [threading.Thread(target=inspector, args=(i,)) for i in range(INSPECTORS)]
    threads += [threading.Thread(target=alert_reader, args=(r,)) for r in range(ALERT_READERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Path(out_path).write_text(json.dumps({"seconds": time.perf_counter() - started, "records": records}))


# --- the benchmark ----------------------------------------------------------------------------


def build(ctx, book_n):
    from django.core.management import call_command

    from inventory.models import Facility
    from protocol.dsse import keyid_of
    from registry.choices import OrgKind

    call_command("load_presets", verbosity=0)  # no-op when another benchmark declared them
    org, _, op_token = world.make_party(OPERATOR, OrgKind.OPERATOR, country="US")
    _, _, insp_token = world.make_party("load-insp", OrgKind.INSPECTORATE, jurisdictions=["US"])
    key = world.new_signing_key()
    world.register_key(op_token, key)
    world.checked(
        world.api(
            "POST",
            "/api/v1/facilities/",
            op_token,
            {"code": FACILITY, "name": FACILITY, "country": "US", "latitude": 45.0, "longitude": -120.0},
        )
    )
    for cluster in CLUSTERS:
        world.checked(world.api("POST", "/api/v1/clusters/", op_token, {"code": cluster, "facility": FACILITY}))
    facility = Facility.objects.get(code=FACILITY)
    cluster_ids = list(facility.clusters.order_by("code").values_list("pk", flat=True))
    agent_n = AGENTS * NODES * NODE_CHIPS
    with world.bulk(ctx.db_url) as conn:
        first, _ = world.insert_chips(conn, "LOAD", 0, book_n + agent_n, custodian_id=org.id, country="US")
        world.place_open(conn, first, book_n, facility.pk, cluster_ids, datetime(2025, 1, 1, tzinfo=UTC))
        world.vacuum_analyze(conn, "registry_chip", "inventory_placement")
    agents = [world.chip_ref("LOAD", book_n + i) for i in range(agent_n)]
    return {
        "operator_token": op_token,
        "inspector_token": insp_token,
        "key": key.private_bytes_raw().hex(),
        "keyid": keyid_of(key),
        "nodes": [agents[i : i + NODE_CHIPS] for i in range(0, agent_n, NODE_CHIPS)],
        "book": [world.chip_ref("LOAD", i) for i in random.Random(ctx.seed).sample(range(book_n), 2000)],
        "usage_t0": (datetime.now(UTC) - timedelta(days=6)).replace(microsecond=0).isoformat(),
    }


def run(ctx):
    from bench.bench_registration import Gunicorn

    seconds = ctx.size(60, 10, scale=300)
    book_n = ctx.size(20_000, 5_000, scale=200_000)
    workers = 2
    ctx.meta.update({"seconds": seconds, "book_chips": book_n, "gunicorn_workers": workers, "celery_concurrency": 1})
    world.reset_world(ctx.db_url)
    config = build(ctx, book_n)
    out_path = Path(ctx.var_dir) / "load-records.json"
    with world.private_redis() as redis_url:
        env = {**SERVER_ENV, "REDIS_URL": redis_url, "CELERY_TASK_ALWAYS_EAGER": "0"}
        with (
            world.CeleryWorker(ctx, redis_url, name="load") as worker,
            Gunicorn(ctx, config["operator_token"], workers=workers, env=env) as server,
        ):
            config.update({"port": server.port, "seconds": seconds})
            load_before = world.load_average()
            ctx.say(
                f"load generator: {AGENTS} agents, {INSPECTORS} inspectors, {ALERT_READERS} alert reader, {seconds} s"
            )
            config_path = Path(ctx.var_dir) / "load-config.json"
            config_path.write_text(json.dumps(config))
            generator = subprocess.run(
                [sys.executable, "-m", "bench.bench_load", str(config_path), str(out_path)],
                cwd=ctx.repo_root,
                capture_output=True,
                text=True,
                timeout=seconds + 600,
                check=False,
            )
            if generator.returncode != 0:
                raise RuntimeError(
                    f"the load generator exited with {generator.returncode}:\n{generator.stderr[-3000:]}"
                )
            load_after = world.load_average()
            backlog = drain_backlog(redis_url)
            worker_errors = worker.errors()
            server_log = server.log_tail(10**6)
    data = json.loads(out_path.read_text())
    records, elapsed = data["records"], data["seconds"]
    from compliance.models import Alert
    from outbox.models import OutboxEvent

    alerts = Alert.objects.count()
    pending = OutboxEvent.objects.filter(dispatched_at__isnull=True).count()
    world.reset_world(ctx.db_url)

    all_ms = [ms for _, ms, _ in records]
    errors = sum(1 for _, _, status in records if status not in (200, 201))
    server_errors = server_log.count("Traceback")
    kinds = {}
    for kind, ms, status in records:
        kinds.setdefault(kind, []).append((ms, status))
    per_kind = "; ".join(
        f"{kind}: {len(v):,} ({len(v) / elapsed:,.1f}/s), p50 {percentile([m for m, _ in v], 50):,.0f} ms, "
        f"p95 {percentile([m for m, _ in v], 95):,.0f} ms, {sum(1 for _, s in v if s not in (200, 201))} errors"
        for kind, v in sorted(kinds.items())
    )
    ctx.say(f"{len(records):,} requests in {elapsed:.1f} s, {errors} errors")
    context = (
        f"gunicorn {workers} sync workers + Celery worker -c 1 (non-eager, private Redis), load generator in a "
        f"separate process; {load_before} before, {load_after} after"
    )
    results = [
        Result(
            figure=f"mixed load, {seconds} s: throughput",
            value=len(records) / elapsed,
            unit="requests/s",
            notes=f"{len(records):,} requests; {per_kind}",
        ),
        Result(figure="mixed load: p50 latency", value=percentile(all_ms, 50), unit="ms"),
        Result(figure="mixed load: p95 latency", value=percentile(all_ms, 95), unit="ms"),
        Result(figure="mixed load: p99 latency", value=percentile(all_ms, 99), unit="ms", notes=context),
        Result(
            figure="mixed load: errors",
            value=errors,
            unit="",
            target="0",
            passed=errors == 0 and worker_errors == 0 and server_errors == 0,
            notes=f"{errors} failed requests, {server_errors} tracebacks in the gunicorn log, {worker_errors} errors "
            f"in the worker log; {alerts} alert(s) raised; the worker still had {backlog['left']} task(s) queued "
            f"when the load stopped and drained them in {backlog['seconds']:.1f} s; {pending} outbox events undispatched",
        ),
    ]
    return results


def drain_backlog(redis_url, limit=300):
    """Wait (up to `limit` s) for the worker to empty its queues; how many were left and how long it took."""
    import redis

    client = redis.Redis.from_url(redis_url)
    queues = ("ingest", "evaluate", "notify")

    def queued():
        return sum(client.llen(q) for q in queues) + client.hlen("unacked")

    left = queued()
    start = time.perf_counter()
    while queued() and time.perf_counter() - start < limit:
        time.sleep(0.1)
    return {"left": left, "seconds": time.perf_counter() - start}


if __name__ == "__main__":
    generate(sys.argv[1], sys.argv[2])
