"""deploy/install-systemd.sh and the systemd units bring up a working registry.

This machine runs no systemd, so the test does what systemd would: it
installs with the script (into temporary PREFIX/ETC/VAR folders, NO_SYSTEMCTL=1),
checks the installed units with `systemd-analyze verify` where it exists, then
starts each unit's ExecStart with its EnvironmentFile and WorkingDirectory
(specifiers expanded as systemd does) and checks the three work together: the
web answers through the production settings, the ingest worker signs the
checkpoint a write asked for, and beat drives the periodic outbox relay.
"""

import configparser
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.faults.support import RedisServer, free_port, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[2]


def server_url(name):
    s = connection.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


def read_unit(path):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # keys are case-sensitive in unit files
    parser.read(path)
    return parser


def expand(command, instance):
    """systemd specifiers used by the units: %i (instance), %H (host name), %% (a percent sign)."""
    out, i = [], 0
    while i < len(command):
        if command[i] == "%" and i + 1 < len(command):
            spec = command[i + 1]
            out.append({"i": instance, "H": socket.gethostname(), "%": "%"}[spec])
            i += 2
        else:
            out.append(command[i])
            i += 1
    return "".join(out)


def read_env_file(path):
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def start_unit(unit_path, instance, log_dir):
    service = read_unit(unit_path)["Service"]
    env = {"PATH": os.environ["PATH"], **read_env_file(service["EnvironmentFile"])}
    log = open(log_dir / f"{unit_path.stem}{instance}.log", "wb")
    proc = subprocess.Popen(
        shlex.split(expand(service["ExecStart"], instance)),
        cwd=service["WorkingDirectory"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.log_path = log.name
    return proc


@pytest.fixture
def fresh_database():
    name = f"chipreg_systemd_{uuid.uuid4().hex[:8]}"
    admin = server_url("postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    yield server_url(name)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_installer_and_the_units_bring_up_web_workers_and_beat(tmp_path, fresh_database):
    if shutil.which("tar") is None:
        pytest.skip("tar is not installed")
    redis = RedisServer(tmp_path).start()
    prefix, etc, var, units = tmp_path / "opt", tmp_path / "etc", tmp_path / "var", tmp_path / "units"
    port = free_port()
    # The environment file as an operator leaves it after editing deploy/env.example.
    etc.mkdir()
    template = (ROOT / "deploy/env.example").read_text()
    edits = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "TOKEN_HASH_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{port}",
        "DATABASE_URL": fresh_database,
        "REDIS_URL": redis.url,
        "CHIPREG_VAR_DIR": str(var),
        "CHIPREG_LOG_KEY_PATH": str(var / "log-key.pem"),
        "CHIPREG_WEBHOOK_KEY_PATH": str(var / "webhook-key.pem"),
        "EMAIL_URL": "",
        "WEB_CONCURRENCY": "2",
    }
    lines = [f"{k}={edits[k]}" if (k := line.partition("=")[0]) in edits else line for line in template.splitlines()]
    (etc / "chipreg.env").write_text("\n".join(lines) + f"\nCHIPREG_BIND=127.0.0.1:{port}\n")

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CHIPREG_", "DATABASE_", "DJANGO_", "REDIS_"))},
        "PREFIX": str(prefix),
        "ETC_DIR": str(etc),
        "VAR_DIR": str(var),
        "SYSTEMD_DIR": str(units),
        "SERVICE_USER": subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip(),
        "NO_SYSTEMCTL": "1",
        "PYTHON": sys.executable,
    }
    done = subprocess.run(
        [str(ROOT / "deploy/install-systemd.sh")], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (var / "log-key.pem").exists() and (etc / "chipreg.env").stat().st_mode & 0o777 == 0o600
    installed = sorted(p.name for p in units.glob("*.service"))
    assert installed == ["chipreg-beat.service", "chipreg-web.service", "chipreg-worker@.service"]
    for path in units.glob("*.service"):
        service = read_unit(path)["Service"]
        assert service["EnvironmentFile"] == str(etc / "chipreg.env")
        assert service["WorkingDirectory"] == str(prefix)
        assert service["ExecStart"].startswith(str(prefix / ".venv/bin/"))

    if shutil.which("systemd-analyze"):
        instance = units / "chipreg-worker@ingest.service"
        shutil.copy(units / "chipreg-worker@.service", instance)
        verified = subprocess.run(
            [
                "systemd-analyze",
                "verify",
                str(units / "chipreg-web.service"),
                str(instance),
                str(units / "chipreg-beat.service"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        instance.unlink()
        assert verified.returncode == 0 and "not executable" not in verified.stderr, verified.stderr

    procs = []
    try:
        procs.append(start_unit(units / "chipreg-web.service", "", tmp_path))
        for queue in ("ingest", "evaluate", "notify"):
            procs.append(start_unit(units / "chipreg-worker@.service", queue, tmp_path))
        procs.append(start_unit(units / "chipreg-beat.service", "", tmp_path))
        check_the_running_service(prefix, etc, port, procs)
    finally:
        for proc in procs:
            stop_process(proc)
        redis.stop()


def check_the_running_service(prefix, etc, port, procs):
    import json
    import urllib.error
    import urllib.request

    def logs():
        return "\n".join(f"--- {p.log_path}\n{Path(p.log_path).read_text()[-2000:]}" for p in procs)

    def get(path, token=None, data=None):
        headers = {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"}  # what the nginx site sends
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (loopback)
            return response.status, response.headers, response.read()

    for proc in procs:
        assert proc.poll() is None, logs()
    status, headers, _ = wait_until(lambda: get("/api/v1/schema/"), 60, "the web unit to answer")
    assert status == 200 and "max-age" in headers.get("Strict-Transport-Security", "")

    # An operator and a write: its log leaf asks the ingest worker to sign a checkpoint.
    env = {"PATH": os.environ["PATH"], **read_env_file(etc / "chipreg.env")}
    manage = [str(prefix / ".venv/bin/python"), "manage.py"]

    def run(*args):
        done = subprocess.run([*manage, *args], cwd=prefix, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.strip()

    run("create_org", "op-sd", "--kind", "operator", "--country", "US", "--name", "Systemd Operator")
    run("create_user", "sd-admin", "--org", "op-sd", "--role", "admin")
    token = run("issue_token", "sd-admin").splitlines()[-1]

    def signed_size():
        try:
            _, _, raw = get("/api/v1/log/checkpoint", token)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:  # nothing signed yet
                return 0
            raise
        return int(raw.decode().splitlines()[1])

    before = signed_size()
    body = json.dumps({"code": "SD-1", "name": "SD", "country": "US", "latitude": 38.95, "longitude": -77.45}).encode()
    status, _, _ = get("/api/v1/facilities/", token, body)
    assert status == 201

    def checkpoint_covers_the_write():
        return signed_size() > before

    wait_until(checkpoint_covers_the_write, 60, f"a checkpoint signed by the ingest worker\n{logs()}")
    beat_log = Path(procs[-1].log_path)
    wait_until(lambda: "outbox" in beat_log.read_text(), 60, f"beat to send the periodic outbox relay\n{logs()}")
    for proc in procs[1:4]:  # the three queue workers, each under its own node name
        queue = Path(proc.log_path).stem.rsplit("@", 1)[-1]
        wait_until(lambda p=proc: " ready." in Path(p.log_path).read_text(), 60, f"worker {queue}\n{logs()}")
        assert f"{queue}@" in Path(proc.log_path).read_text()
    for proc in procs:
        assert proc.poll() is None, logs()
