"""gunicorn as deployed (deploy/gunicorn.conf.py, several workers, PROMETHEUS_MULTIPROC_DIR): one scrape of
/metrics counts the requests every worker answered, and a JSON access to the app echoes request ids."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.ops.scrape import value

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:  # noqa: S310
        return response.status, dict(response.headers), response.read()


def test_one_scrape_sums_every_gunicorn_worker(tmp_path):
    metrics_dir = tmp_path / "metrics"
    stale = metrics_dir / f"counter_{socket.gethostname()}-999999999.db"  # a process of an earlier run
    metrics_dir.mkdir()
    stale.write_bytes(b"")
    port = free_port()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "CHIPREG_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "config.wsgi"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get(base + "/healthz")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.2)
        assert not stale.exists()  # on_starting forgot the dead process's file
        # Requests on fresh connections until both workers have answered some: on a loaded machine the
        # second worker may boot after the first has served dozens, so the batch repeats until a deadline.
        deadline = time.monotonic() + 60
        i = 0
        while True:
            for _ in range(60):
                status, headers, _ = get(base + "/healthz", {"X-Request-ID": f"gunicorn-{i}"})
                assert status == 200 and headers["X-Request-ID"] == f"gunicorn-{i}"
                i += 1
            writers = {p.stem.rsplit("-", 1)[-1] for p in metrics_dir.glob("counter_*.db")}
            if len(writers) >= 2 or time.monotonic() > deadline:
                break
        assert len(writers) >= 2, writers  # several worker processes recorded
        for _ in range(3):  # whichever worker answers the scrape, it sums them all
            _, _, body = get(base + "/metrics")
            families = list(text_string_to_metric_families(body.decode()))
            assert value(families, "chipreg_http_requests_total", route="healthz", method="GET", status="200") == i + 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
