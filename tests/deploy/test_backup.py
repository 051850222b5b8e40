"""deploy/backup.sh and deploy/restore.sh: the database and the log key travel together,
and the restored log verifies."""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def server_url(name):
    s = connection.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_keep_the_log_verifiable(parties, tmp_path):
    if not shutil.which("pg_dump") or not shutil.which("pg_restore"):
        pytest.skip("pg_dump/pg_restore are not installed")
    from registry.registration import register_chips
    from tests.factories import chip_rows
    from transparency.checkpoints import sign_if_due

    register_chips(chip_rows("BAK", 5), parties.users["op_a_admin"])
    sign_if_due(wait=True)

    source = server_url(connection.settings_dict["NAME"])
    env = {
        **os.environ,
        "DATABASE_URL": source,
        "CHIPREG_LOG_KEY_PATH": str(settings.CHIPREG_LOG_KEY_PATH),
        "CHIPREG_WEBHOOK_KEY_PATH": str(tmp_path / "no-webhook-key.pem"),
    }
    backup = tmp_path / "backup"
    subprocess.run([str(ROOT / "deploy/backup.sh"), str(backup)], env=env, check=True, cwd=ROOT, capture_output=True)
    assert (backup / "chipreg.dump").stat().st_size > 0
    assert (backup / "log-key.pem").stat().st_mode & 0o777 == 0o600

    target = f"chipreg_restore_{uuid.uuid4().hex[:8]}"
    admin = server_url("postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{target}"')
    try:
        restored = tmp_path / "restored-host"
        env = {
            **os.environ,
            "DATABASE_URL": server_url(target),
            "CHIPREG_VAR_DIR": str(restored),
            "CHIPREG_LOG_KEY_PATH": str(restored / "log-key.pem"),
            "PY": sys.executable,
            "CHIPREG_LOG_KEY_AUTOCREATE": "0",
        }
        env.pop("CHIPREG_TEST_DB_NAME", None)
        result = subprocess.run(
            [str(ROOT / "deploy/restore.sh"), str(backup)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "verifies" in result.stdout
        # Restoring over an existing key is refused: two logs must never share a history.
        again = subprocess.run(
            [str(ROOT / "deploy/restore.sh"), str(backup)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert again.returncode != 0 and "refusing" in again.stderr
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
