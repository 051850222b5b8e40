"""Hardware evidence (issue #18): host statements from 4 clients, one 1,000-chip statement, against the P-384 ceiling.

What is measured, over HTTP (gunicorn, 2 sync workers, a Celery worker on a private Redis, all on this machine):

- (a) `evidence` statements of 8 chips (one host's GPUs) from 4 clients for 30 s, each over its own
  challenge (imported before the clock starts: a challenge is used once), re-proving chips whose
  certificates the server has verified before (what a fleet does every few minutes): rate and p95.
  Targets: >= 100 statements/s, p95 < 200 ms.
- (b) one `evidence` statement of 1,000 chips that have never proved themselves, each verified in full
  (chain to the pinned root, report signature, nonce, FWID, identity): chips/s to its 201, against the
  ceiling measured in the same run = the bare P-384 verification rate of `cryptography` (one thread,
  as one gunicorn worker serves the statement) divided by the signatures a new chip costs (its report's,
  its leaf's and its identity certificate's: the vendor's intermediates are verified once per process).
  Target: >= 0.5 of the ceiling. It is posted after the hosts' first proofs, which warm both workers (a
  server that has been up: imports done, its broker connection open, the vendor's intermediates verified).

The evidence is made with throwaway keys in the layout of NVIDIA's (protocol/evidence_factory.py), and its
root pinned for the server alone (CHIPREG_HARDWARE_ROOTS).
"""

import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bench import scale as world
from bench.bench_attestations import closed_loop, cpu_note, stack_roles
from bench.bench_registration import Gunicorn
from bench.core import QueryLog, Result, Stopwatch

NAME = "hardware"
OPERATOR = "hw-op"
CLIENTS = 4
HOST_CHIPS = 8
HOSTS_PER_CLIENT = 8
BIG = 1000
SIGNATURES_PER_NEW_CHIP = 3  # the report's, the leaf's, the identity (BROM) certificate's
TARGET_RATIO = 0.5
TARGET_HOST_RATE = 100
TARGET_HOST_P95_MS = 200
STATEMENTS = "/api/v1/attestations/"
SERVER_ENV = {
    "CHIPREG_RATE_PER_TOKEN": "10000000/min",
    "CHIPREG_RATE_PER_ADDRESS": "10000000/min",
    "CELERY_TASK_ALWAYS_EAGER": "0",
    # The bench vendor's identities ("bench-bx100:...") are the chips' maker's (nvidia ids): as a real maker's
    # certificates' O would be configured; otherwise every chip would be another vendor's (identity_mismatch).
    "CHIPREG_IDENTITY_VENDORS": "nvidia=nvidia,bench",
}


def p384_verifications_per_s(seconds=3.0):
    """The bare rate of ECDSA P-384 / SHA-384 verification in `cryptography`, one thread (best of 3)."""
    key = ec.generate_private_key(ec.SECP384R1())
    public, message = key.public_key(), os.urandom(4021)  # a report's signed length
    signature = key.sign(message, ec.ECDSA(hashes.SHA384()))
    best = 0.0
    for _ in range(3):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 3:
            public.verify(signature, message, ec.ECDSA(hashes.SHA384()))
            count += 1
        best = max(best, count / (time.perf_counter() - started))
    return best


class Fixture:
    """The operator, its key, a facility, chips, a throwaway vendor with one device per chip."""

    def __init__(self, ctx, chips):
        from protocol.dsse import keyid_of
        from protocol.evidence_factory import Vendor
        from registry.choices import OrgKind

        self.ctx = ctx
        self.org, self.user, self.token = world.make_party(OPERATOR, OrgKind.OPERATOR, country="US")
        self.key = world.new_signing_key()
        world.register_key(self.token, self.key)
        self.keyid = keyid_of(self.key)
        body = {"code": "HW-1", "name": "HW-1", "country": "US", "latitude": 40.0, "longitude": -100.0}
        world.checked(world.api("POST", "/api/v1/facilities/", self.token, body))
        with world.bulk(ctx.db_url) as conn:
            world.insert_chips(conn, "HW", 0, chips, custodian_id=self.org.id, country="US")
            world.vacuum_analyze(conn, "registry_chip")
        self.chip_ids = [world.chip_ref("HW", i) for i in range(chips)]
        self.vendor = Vendor(organisation="Bench Vendor", generation="BX100")
        self.devices = [self.vendor.device() for _ in range(chips)]
        self.roots = Path(tempfile.mkdtemp(prefix="chipreg-bench-roots-"))
        (self.roots / "bench-vendor.pem").write_bytes(self.vendor.root_pem())

    def challenges(self, count):
        """`count` challenges of the operator, valid for an hour (bench set-up: written directly)."""
        from attestations.models import Challenge

        now = datetime.now(UTC)
        rows = [
            Challenge(nonce=os.urandom(32).hex(), organisation=self.org, expires_at=now + timedelta(hours=1))
            for _ in range(count)
        ]
        Challenge.objects.bulk_create(rows, batch_size=5000)
        return [c.nonce for c in rows]

    def body(self, indices, challenge):
        import base64

        # Issued now (floored to the second), never before the key's registration a moment ago (a key is
        # valid from then, judged at issued_at); observed a second before.
        observed = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        chips = []
        for i in indices:
            report, chain = self.devices[i].evidence(challenge)
            chips.append(
                {
                    "chip": self.chip_ids[i],
                    "format": "nvidia-spdm-v1",
                    "report": base64.b64encode(report).decode(),
                    "certificates": base64.b64encode(chain).decode(),
                }
            )
        statement = {
            "v": 1,
            "kind": "evidence",
            "issued_at": (observed + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "nonce": os.urandom(16).hex(),
            "operator": OPERATOR,
            "facility": "HW-1",
            "observed_at": observed.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "challenge": challenge,
            "chips": chips,
        }
        return world.envelope_bytes(statement, self.key, self.keyid)


def host_bodies(fx, first, per_client, challenges):
    """Per client, `per_client` statements cycling over its hosts (8 chips each), each with its own challenge."""
    out, c = [], 0
    for client in range(CLIENTS):
        starts = [first + (client * HOSTS_PER_CLIENT + h) * HOST_CHIPS for h in range(HOSTS_PER_CLIENT)]
        hosts = [list(range(start, start + HOST_CHIPS)) for start in starts]
        bodies = []
        for n in range(per_client):
            bodies.append(fx.body(hosts[n % HOSTS_PER_CLIENT], challenges[c]))
            c += 1
        out.append(bodies)
    return out


def post(server, body):
    with Stopwatch() as clock:
        status, answer = server.request("POST", STATEMENTS, body, timeout=900)
    if status != 201:
        raise RuntimeError(f"evidence statement answered {status}: {answer[:500]!r}\n{server.log_tail()}")
    return clock.seconds, json.loads(answer)


def profile_in_process(ctx, fx, bodies, name, body_chips=HOST_CHIPS):
    """cProfile evidence statements through Django's stack in this process (untimed: --profile)."""
    import cProfile
    import io
    import pstats

    from django.db import connection
    from django.test import Client, override_settings

    client = Client()
    queries = QueryLog()
    profiler = cProfile.Profile()
    pinned = override_settings(CHIPREG_HARDWARE_ROOTS=str(fx.roots))
    with pinned, connection.execute_wrapper(queries), Stopwatch() as clock:
        for body in bodies:
            profiler.enable()
            response = client.post(
                STATEMENTS, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {fx.token}"
            )
            profiler.disable()
            if response.status_code != 201:
                raise RuntimeError(f"in-process statement answered {response.status_code}: {response.content[:300]!r}")
    n = len(bodies)
    out = io.StringIO()
    out.write(
        f"In process: {n} evidence statements of {body_chips} chips in {clock.seconds:.2f} s "
        f"({clock.seconds / n * 1000:.1f} ms each); {len(queries.queries) / n:.1f} queries each, "
        f"{sum(s for s, _ in queries.queries) / n * 1000:.1f} ms each in execute()\n\n"
    )
    by_shape = {}
    for seconds, sql in queries.queries:
        total, count = by_shape.get(sql[:100], (0.0, 0))
        by_shape[sql[:100]] = (total + seconds, count + 1)
    out.write("Queries grouped by their first 100 characters (total ms, count):\n")
    for shape, (total, count) in sorted(by_shape.items(), key=lambda kv: -kv[1][0])[:40]:
        out.write(f"{total * 1000:9.1f} ms {count:6d}x  {shape}\n")
    stats = pstats.Stats(profiler, stream=out)
    for key in ("cumulative", "tottime"):
        out.write(f"\n--- top 60 by {key} ---\n")
        stats.sort_stats(key).print_stats(60)
    path = ctx.results_dir / f"profile_hardware_{name}.txt"
    ctx.results_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue())
    profiler.dump_stats(path.with_suffix(".prof"))  # for pstats: callers and callees
    ctx.say(f"profile written to {path}")


def run(ctx):
    from django.conf import settings

    # In this process too (--profile's statements), as SERVER_ENV says for the server.
    settings.CHIPREG_IDENTITY_VENDORS = {"nvidia": ["nvidia", "bench"]}
    window = ctx.size(30, 5)
    per_client = ctx.size(1500, 300)  # about what a client sends in the window at twice the target rate
    big = ctx.size(BIG, 200)
    hosts = CLIENTS * HOSTS_PER_CLIENT * HOST_CHIPS
    world.reset_world(ctx.db_url)
    ctx.say(f"making {big + hosts:,} chips and their throwaway devices")
    # With --profile, `big` more chips for a big statement profiled in process (new chips, as the timed one's).
    fx = Fixture(ctx, big + hosts + (big if ctx.profile else 0))
    challenges = fx.challenges(CLIENTS * per_client + CLIENTS * HOSTS_PER_CLIENT + 1)
    ctx.say(f"signing a {big:,}-chip statement and {CLIENTS} x {per_client:,} host statements")
    big_body = fx.body(range(big), challenges.pop())
    # The hosts prove themselves once first (their certificates new to the server), then re-prove in the window.
    warm = [
        fx.body(range(big + h * HOST_CHIPS, big + (h + 1) * HOST_CHIPS), challenges.pop())
        for h in range(hosts // HOST_CHIPS)
    ]
    window_bodies = host_bodies(fx, big, per_client, challenges)
    ceiling_rate = p384_verifications_per_s()
    ceiling = ceiling_rate / SIGNATURES_PER_NEW_CHIP
    ctx.say(f"bare P-384 verification: {ceiling_rate:,.0f}/s, so {ceiling:,.0f} new chips/s")
    if ctx.profile:
        # Untimed, in process (--profile): the hosts' first proofs, then re-proofs (other challenges than the
        # window's), and a big statement of as many other new chips, cProfiled to bench/results/profile_hardware_*.txt.
        profile_in_process(ctx, fx, [fx.body(range(big + hosts, 2 * big + hosts), fx.challenges(1)[0])], "big", big)
        profile_in_process(ctx, fx, warm, "first")
        again = fx.challenges(hosts // HOST_CHIPS)
        bodies = [fx.body(range(big + h * HOST_CHIPS, big + (h + 1) * HOST_CHIPS), again[h]) for h in range(len(again))]
        profile_in_process(ctx, fx, bodies, "again")
        # The hosts proved themselves in process; their re-proofs warm the server's workers instead.
        warm = [
            fx.body(range(big + h * HOST_CHIPS, big + (h + 1) * HOST_CHIPS), c)
            for h, c in enumerate(fx.challenges(hosts // HOST_CHIPS))
        ]
    ctx.meta.update({"hardware_big_chips": big, "hardware_window_s": window, "hardware_clients": CLIENTS})

    with world.private_redis() as redis_url, world.CeleryWorker(ctx, redis_url, name="hardware") as worker:
        env = {**SERVER_ENV, "REDIS_URL": redis_url, "CHIPREG_HARDWARE_ROOTS": str(fx.roots)}
        server = Gunicorn(ctx, fx.token, workers=2, env=env)
        with server:
            # The hosts' first proofs warm both workers (imports, the broker's connection, the vendor's
            # intermediates verified once per process, as the ceiling assumes): a server that has been up.
            for body in warm:
                post(server, body)
            ctx.say(f"(b) POST one evidence statement of {big:,} new chips")
            big_s, answer = post(server, big_body)
            flags = answer.get("flags")
            ctx.say(f"(a) {CLIENTS} clients x {window} s of {HOST_CHIPS}-chip evidence statements")
            work = [[("POST", STATEMENTS, b, 201) for b in bodies] for bodies in window_bodies]
            loop = closed_loop(server, work, window, stack_roles(server, worker))
    from registry.models import Chip

    verified = Chip.objects.filter(custodian=fx.org, hardware_verified_at__isnull=False).count()
    world.reset_world(ctx.db_url)
    rate = big / big_s
    return [
        Result(
            figure=f"evidence statement of {big:,} new chips, each verified in full, end to end over HTTP",
            value=rate,
            unit="chips/s",
            baseline=ceiling,
            baseline_label=f"bare P-384 verification rate / {SIGNATURES_PER_NEW_CHIP} signatures per new chip",
            target=f">= {TARGET_RATIO}",
            passed=rate / ceiling >= TARGET_RATIO,
            notes=f"{big_s:.2f} s to the 201; flags {flags or 'none'}; {verified:,} chips hardware-verified after "
            f"the run; ceiling from {ceiling_rate:,.0f} verifications/s (cryptography, one thread, best of 3)",
        ),
        Result(
            figure=f"evidence statements of {HOST_CHIPS} chips (one host), {CLIENTS} clients, {window} s",
            value=loop["rate"],
            unit="statements/s",
            target=f">= {TARGET_HOST_RATE}/s, p95 < {TARGET_HOST_P95_MS} ms",
            passed=loop["rate"] >= TARGET_HOST_RATE and loop["p95"] < TARGET_HOST_P95_MS and not loop["errors"],
            notes=f"p50 {loop['p50']:.0f} ms, p95 {loop['p95']:.0f} ms, p99 {loop['p99']:.0f} ms, "
            f"{loop['errors']} errors, {loop['count']:,} statements; CPU per statement: {cpu_note(loop['cpu_ms'])}, "
            f"the machine {loop['machine_busy'] or 0:.0%} busy; chips re-proving themselves (their "
            "certificates verified before: one report signature each); gunicorn 2 workers, a Celery worker, "
            "clients on the same 2 CPUs",
        ),
    ]
