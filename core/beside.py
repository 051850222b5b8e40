"""Reads run beside a transaction, on a second connection to the database.

A big location statement spends seconds reading where else its chips were seen
(the movement check) and seconds more deciding and writing their placements,
one after the other on one connection, while the machine's other CPU waits.
Reads of rows committed before the caller took a lock that holds their writers
off (the log's, for those) read the same on a second connection, and the two
connections then work at once.

A second connection sees only committed rows: it is taken only where the
caller's transaction is the outermost one (a request's, a task's), never inside
an enclosing transaction whose rows it would miss (a test's, for one). And it
reads nothing the caller's own transaction wrote: a caller reads that itself.

Nor may it wait for the caller. A lock request queued behind the caller's own
locks (the partition task's CREATE TABLE ... PARTITION OF sightings, which
takes an ACCESS EXCLUSIVE lock, waiting for a big statement that wrote
sightings) would stop the second connection's read behind it, and the caller
waiting for the read: a deadlock of three that PostgreSQL cannot see, the
log's lock held all the while. So the read gives up a lock it cannot have
within LOCK_TIMEOUT_MS, and the caller reads on its own connection instead,
where the locks it holds take it past the queued request (as without this
module).
"""

import threading

from django.db import OperationalError, connection, connections, transaction
from psycopg import errors as pg_errors

from core.rawsql import execute, without_jit

LOCK_TIMEOUT_MS = 1000  # a read beside never waits longer for a lock (see the module)


def available():
    """Whether a read on a second connection sees what one on this connection would (see the module)."""
    return connection.in_atomic_block and len(connection.atomic_blocks) == 1


def run(fn, *args, beside=True):
    """`fn(*args)`, on a second connection when `beside` and one is `available()` (started now, its answer
    from `result()`), else here and now. Use as a context manager: leaving it waits for the read, so no
    thread outlives the work it was started for, whatever that work raised."""
    if beside and available():
        return Beside(fn, *args)
    return Here(fn(*args))


class Here:
    """An answer computed on the caller's connection: `run`'s answer where no second one is taken."""

    def __init__(self, value):
        self._value = value

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def result(self):
        return self._value


class Beside:
    """`fn(*args)` on its own thread and connection, in a read-only transaction without JIT compilation (as a
    big statement's own reads: core.rawsql.without_jit), started now.

    What it raises is raised again by `result()`, in the caller's thread, but for a lock it could not have in
    LOCK_TIMEOUT_MS, or a connection it could not open (the server's connections all taken): then `result()`
    runs `fn(*args)` on the caller's connection, as without this module. The thread closes its connection when
    it is done (a thread's connections are its own in Django)."""

    def __init__(self, fn, *args):
        self._fn, self._args = fn, args
        self._value = self._error = None
        self._here = False  # whether result() reads on the caller's connection instead
        self._thread = threading.Thread(target=self._run, name="chipreg-beside", daemon=True)
        self._thread.start()

    def _run(self):
        try:
            try:
                connection.ensure_connection()
            except OperationalError:
                self._here = True
                return
            with transaction.atomic():
                execute("SET TRANSACTION READ ONLY")
                execute(f"SET LOCAL lock_timeout = {int(LOCK_TIMEOUT_MS)}")
                without_jit()
                self._value = self._fn(*self._args)
        except BaseException as exc:  # handed to the caller's thread, raised there
            self._error = exc
        finally:
            connections.close_all()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._thread.join()
        return False

    def result(self):
        self._thread.join()
        if isinstance(self._error, OperationalError) and isinstance(self._error.__cause__, pg_errors.LockNotAvailable):
            self._here, self._error = True, None  # here, past the request queued behind this transaction
        if self._here:
            self._here, self._value = False, self._fn(*self._args)
        if self._error is not None:
            raise self._error
        return self._value
