"""One run at a time of a periodic job, across workers: a PostgreSQL advisory lock taken without waiting.

A monitor (the silence, hardware-evidence and unreported-chip scans) runs hourly or daily over every chip; one
that outlasts its period met the next run's, the two storing the same findings batch by batch and the later
waiting on the earlier's uncommitted unique keys. The later run now finds the turn taken and does nothing:
the one running covers the same chips.
"""

import logging
from contextlib import contextmanager

from django.db import DatabaseError, connection

from core.rawsql import execute, fetch_one

log = logging.getLogger(__name__)


@contextmanager
def sole_run(name):
    """Yields whether this process holds `name`'s turn (False: another run holds it; do nothing).

    A session lock (the job commits as it goes), released at the end even when the job fails; inside an
    outer transaction (eager mode: the relay's), a transaction lock, released with it."""
    key = f"chipreg:sole:{name}"
    if connection.in_atomic_block:
        (held,) = fetch_one("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [key])
        yield bool(held)
        return
    (held,) = fetch_one("SELECT pg_try_advisory_lock(hashtext(%s))", [key])
    if not held:
        log.info("%s: another run holds its turn; this one does nothing", name)
        yield False
        return
    try:
        yield True
    finally:
        try:
            execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])
        except DatabaseError:
            # The connection is gone (or broken): closed, so the server ends the session and its lock with it.
            log.warning("%s: its turn went with its connection", name, exc_info=True)
            connection.close()
