"""Turns: one holder at a time of a named job, across workers, by a PostgreSQL advisory lock.

`turn` waits for it (an evaluation of one scope: compliance.storage.evaluation_turn); `sole_run` does not (a
periodic monitor: the silence, hardware-evidence and unreported-chip scans run hourly or daily over every chip,
and one that outlasted its period met the next run's, the two storing the same findings batch by batch and the
later waiting on the earlier's uncommitted unique keys; the later run now finds the turn taken and does nothing,
the one running covering the same chips).
"""

import logging
from contextlib import contextmanager

from django.db import DatabaseError, connection

from core.rawsql import execute, fetch_one

log = logging.getLogger(__name__)


@contextmanager
def turn(key, *, wait=True):
    """Yields whether this session holds `key`'s turn (always, with `wait`: it waits for it).

    A session lock (the job commits as it goes), released at the end, even when the job fails. Inside an outer
    transaction (eager mode: the relay's), a transaction lock instead: what the job stored is seen by the next
    one only at that transaction's commit, and a statement failing in it aborts the transaction, so a session
    lock's release would fail and the lock outlive the rollback on a kept connection."""
    scope = "_xact" if connection.in_atomic_block else ""
    (held,) = fetch_one(f"SELECT pg_{'' if wait else 'try_'}advisory{scope}_lock(hashtext(%s))", [key])
    held = wait or bool(held)  # the waiting forms return nothing: they return holding it
    if scope or not held:
        yield held
        return
    try:
        yield True
    except BaseException:
        _release_after_failure(key)
        raise
    execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])


def _release_after_failure(key):
    """A job failed holding its turn: release it without putting another error in the place of its own (on a lost
    connection the release fails too). Where the release fails the connection is closed, so the server ends the
    session and the lock with it: it never outlives the job on a kept connection."""
    try:
        execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])
    except DatabaseError:
        log.warning("%s: the turn went with its connection", key, exc_info=True)
        connection.close()


@contextmanager
def sole_run(name):
    """Yields whether this process holds `name`'s turn, without waiting (False: another run holds it; do
    nothing)."""
    with turn(f"chipreg:sole:{name}", wait=False) as held:
        if not held:
            log.info("%s: another run holds its turn; this one does nothing", name)
        yield held
