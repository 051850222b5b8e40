"""Private services for the fault tests: a Redis, Celery workers, a PostgreSQL cluster, gunicorn, a webhook receiver.

Every one is a child process (or thread) of the test run that a fixture stops,
so the machine's own PostgreSQL and Redis, which other test runs share, are
never stopped, restarted or reconfigured.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PG_BIN_CANDIDATES = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]


def require_binary(name, *extra_dirs):
    """The binary's path; skip loudly without it (fail instead where CI requires the services)."""
    for folder in extra_dirs:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    message = f"fault tests need the `{name}` binary, which is not installed: SKIPPED, not passed"
    if os.environ.get("CHIPREG_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def pg_bin(name):
    return require_binary(name, *PG_BIN_CANDIDATES)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what, interval=0.1):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = predicate()
        except AssertionError:
            raise  # the predicate saw something that waiting will not mend
        except Exception as exc:  # a service still starting
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def stop_process(proc, sig=signal.SIGTERM, grace=5.0, group=True):
    """Signal a child (its whole session with group=True), escalate to SIGKILL, reap it."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        proc.wait(10)


def children(pid):
    """Direct child pids (Linux /proc)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(p) for p in (task / "children").read_text().split()]
    return out


# --- Redis -------------------------------------------------------------------


class RedisServer:
    """A private, non-persistent redis-server on a free port, stopped and started again on that same port."""

    def __init__(self, workdir):
        self.binary = require_binary("redis-server")
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None
        self.log = self.workdir / "redis.log"

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--daemonize", "no", "--dir", str(self.workdir)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def up():
            if self.proc.poll() is not None:  # e.g. the port was taken meanwhile
                raise AssertionError(f"redis-server exited ({self.proc.returncode}); see {self.log}")
            return self.ping()

        wait_until(up, 10, f"redis on port {self.port}")
        return self

    def ping(self):
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return client.ping()
        finally:
            client.close()

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)

    def stop(self):
        stop_process(self.proc)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None


# --- Celery workers ------------------------------------------------------------


class CeleryWorker:
    """`celery worker` as a child process, in its own session so that the whole tree can be killed."""

    def __init__(self, env, workdir, name, queues="ingest,evaluate,notify", extra_env=None):
        self.name = f"{name}-{uuid.uuid4().hex[:6]}"
        self.log = Path(workdir) / f"worker-{self.name}.log"
        args = [
            sys.executable, "-m", "celery", "-A", "tests.faults.worker_app", "worker",
            "-Q", queues, "--pool=prefork", "--concurrency=1", "-l", "info", "-n", f"{self.name}@%h",
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args,
                cwd=REPO,
                env={**env, **(extra_env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout=60):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker {self.name} exited ({self.proc.returncode}):\n{self.text()[-4000:]}")
            return " ready." in self.text()

        wait_until(ready, timeout, f"worker {self.name} to be ready")
        return self

    def pool_children(self):
        return children(self.proc.pid)

    def kill_tree(self):
        """SIGKILL the worker and its pool processes at once: no warm shutdown, no acknowledgement, no requeue."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        # At teardown nothing it holds is worth keeping (its broker goes too), and a warm or even cold
        # shutdown costs seconds per test: kill the tree, reap it.
        if self.proc.poll() is None:
            self.kill_tree()


def worker_env(redis_url, database_url, settings, tmp_path, **extra):
    """The environment of a real deployment, pointed at the private Redis and the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env.update(
        PYTHONPATH=str(REPO),
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CELERY_TASK_ALWAYS_EAGER="0",
        CHIPREG_VAR_DIR=str(tmp_path),
        CHIPREG_LOG_KEY_PATH=str(settings.CHIPREG_LOG_KEY_PATH),
        CHIPREG_WEBHOOK_KEY_PATH=str(settings.CHIPREG_WEBHOOK_KEY_PATH),
        CHIPREG_CHECKPOINT_INTERVAL_S="0",
        CHIPREG_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
        CHIPREG_WEBHOOK_TIMEOUT_S="5",
        CHIPREG_WEBHOOK_RETRY_BASE_S="0.2",
        CHIPREG_WEBHOOK_RETRY_MAX_WAIT_S="1",
        CHIPREG_WEBHOOK_SWEEP_GRACE_S="0",
        LOG_LEVEL="INFO",
    )
    env.pop("DATABASE_REPLICA_URL", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def database_url(settings_dict):
    user = settings_dict.get("USER") or "postgres"
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else f"{user}@"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


# --- a webhook receiver ----------------------------------------------------------


class Receiver:
    """A webhook endpoint in a thread: verifies Standard Webhooks v1 and processes each webhook-id once.

    fail_first: the first n requests are answered 500 before anything is processed (the endpoint is down);
    ack_lost: that many requests are processed, then answered 500 (the acknowledgement is lost).
    """

    def __init__(self, fail_first=0, ack_lost=0):
        self.fail_first, self.ack_lost = fail_first, ack_lost
        self.secret = None
        self.requests, self.processed, self.errors = [], [], []
        self.seen = set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                code = receiver.handle({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/chipreg"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, headers, body):
        from standardwebhooks.webhooks import Webhook

        with self.lock:
            self.requests.append((headers, body))
            if self.fail_first:
                self.fail_first -= 1
                return 500
            try:
                message = Webhook(self.secret).verify(body, headers)
            except Exception as exc:
                self.errors.append(repr(exc))
                return 400
            if headers["webhook-id"] not in self.seen:
                self.seen.add(headers["webhook-id"])
                self.processed.append((headers["webhook-id"], message))
            if self.ack_lost:
                self.ack_lost -= 1
                return 500
            return 204

    def ids_requested(self):
        with self.lock:
            return [h["webhook-id"] for h, _ in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- PostgreSQL ------------------------------------------------------------------


class PostgresCluster:
    """A private PostgreSQL cluster (initdb) on a free port, owned by the `postgres` user when run as root."""

    def __init__(self, workdir):
        self.initdb, self.pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        self.root = Path(workdir)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
            self.root.chmod(0o700)

    def _run(self, *args, timeout=60):
        cmd = [str(a) for a in args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)

    def init(self):
        self._run(
            self.initdb, "-D", self.data, "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8", "--locale=C.UTF-8"
        )
        return self

    @property
    def options(self):
        return f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"

    def start(self):
        self._run(self.pg_ctl, "-D", self.data, "-o", self.options, "-l", self.log, "-w", "-t", "30", "start")
        return self

    def restart(self, mode="fast"):
        self._run(self.pg_ctl, "-D", self.data, "-o", self.options, "-l", self.log, "-m", mode, "-w", "-t", "30",
                  "restart")  # fmt: skip

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "-t", "20", "stop", timeout=30)

    def url(self, dbname):
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"


class Gunicorn:
    """`gunicorn config.wsgi` as a child process on a free port."""

    def __init__(self, env, workdir, workers=2, threads=4):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(workdir) / "gunicorn.log"
        args = [
            sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{self.port}", "-w", str(workers),
            "--threads", str(threads), "--timeout", "60", "--graceful-timeout", "5",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self):
        stop_process(self.proc, grace=8)
