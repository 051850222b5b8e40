"""gunicorn for chipreg: `gunicorn -c deploy/gunicorn.conf.py config.wsgi`."""

import multiprocessing
import os
import sys
from pathlib import Path

from gunicorn.glogging import Logger

bind = os.environ.get("CHIPREG_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# Large statements (a million chips) take seconds to verify and store.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# Never log request headers: they carry bearer tokens.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


class TipsPrivateLogger(Logger):
    """The access log never records who sent a tip (issue 19): no client address for /api/v1/tips/."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        if (environ.get("PATH_INFO") or "").startswith("/api/v1/tips/"):
            atoms["h"] = "-"
        return atoms


logger_class = TipsPrivateLogger


def on_starting(server):
    """Prometheus multiprocess mode (deploy/prometheus/README.md): forget the metric files of this host's
    processes that are gone (workers recycled by max_requests, a previous run), before workers start."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from core.metrics import prune_dead_process_files

        prune_dead_process_files()
