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

import queue
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


def stream(fn, items, beside=True):
    """`fn(item)` for each of `items`, in their order, as the caller iterates: computed ahead of it on a second
    connection (at most AHEAD answers waiting) when `beside` and one is `available()`, else on the caller's
    connection as it asks for each. The caller's connection is free between two answers (for a COPY of what the
    last one found, say) while the next is read beside it. Use as a context manager, as `run`'s."""
    if beside and available():
        return Ahead(fn, items)
    return HereStream(fn, items)


def run_split(fn, parts, beside=True):
    """`fn(*args)` for each `args` of `parts`, each on a connection of its own beside the caller's when `beside`
    and one is `available()` (the machine's CPUs reading the parts at once), else here and now, one after the
    other; `result()` is their answers (lists) joined in the parts' order. A context manager, as `run`'s."""
    if beside and available():
        return Split([Beside(fn, *args) for args in parts])
    return Here([answer for args in parts for answer in fn(*args)])


class _Context:
    """What every answer of this module is: a context manager, left once its reads are done."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Here(_Context):
    """An answer computed on the caller's connection: `run`'s answer where no second one is taken."""

    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value


def _refused(exc):
    """Whether a read beside failed for a lock it could not have in LOCK_TIMEOUT_MS (see the module)."""
    return isinstance(exc, OperationalError) and isinstance(exc.__cause__, pg_errors.LockNotAvailable)


class _Thread:
    """The second connection's thread: `work()` in a read-only transaction without JIT compilation (as a big
    statement's own reads: core.rawsql.without_jit) that waits at most LOCK_TIMEOUT_MS for a lock. `here` is
    set when the connection could not be opened (the server's connections all taken): the caller reads on its
    own connection instead. The thread closes its connection when done (a thread's connections are its own)."""

    def __init__(self, work, finished=None):
        self.here = False
        self.error = None
        self._work, self._finished = work, finished
        self.thread = threading.Thread(target=self._run, name="chipreg-beside", daemon=True)
        self.thread.start()

    def _run(self):
        try:
            try:
                connection.ensure_connection()
            except OperationalError:
                self.here = True
                return
            with transaction.atomic():
                execute("SET TRANSACTION READ ONLY")
                execute(f"SET LOCAL lock_timeout = {int(LOCK_TIMEOUT_MS)}")
                without_jit()
                self._work()
        except BaseException as exc:  # handed to the caller's thread, raised there
            self.error = exc
        finally:
            connections.close_all()
            if self._finished is not None:
                self._finished()


class Beside(_Context):
    """`fn(*args)` on a second connection (_Thread), started now.

    What it raises is raised again by `result()`, in the caller's thread, but for a lock it could not have in
    LOCK_TIMEOUT_MS, or a connection it could not open: then `result()` runs `fn(*args)` on the caller's
    connection, as without this module, but after whatever the caller wrote meanwhile, which it then sees. A
    caller whose work beside the read writes rows `fn` reads asks `read_here()` first (after a savepoint before
    that work, to undo it and read what the read beside would have read, then do the work again)."""

    def __init__(self, fn, *args):
        self._fn, self._args = fn, args
        self._value = None
        self._thread = _Thread(self._work)

    def _work(self):
        self._value = self._fn(*self._args)

    def __exit__(self, *exc):
        self._thread.thread.join()
        return False

    def read_here(self):
        """Whether `result()` will read on the caller's connection (the read beside gave up): waits for it."""
        t = self._thread
        t.thread.join()
        return t.here or _refused(t.error)

    def result(self):
        t = self._thread
        if self.read_here():
            t.here, t.error = False, None
            self._value = self._fn(*self._args)  # here, past a request queued behind this transaction
        if t.error is not None:
            raise t.error
        return self._value


class Split(_Context):
    """`run_split`'s reads beside: each falls back to the caller's connection on its own (see Beside)."""

    def __init__(self, reads):
        self._reads = reads

    def __exit__(self, *exc):
        for read in self._reads:
            read.__exit__(*exc)
        return False

    def read_here(self):
        """Whether `result()` will read some part on the caller's connection: waits for every part."""
        return any([read.read_here() for read in self._reads])

    def result(self):
        return [answer for read in self._reads for answer in read.result()]


AHEAD = 2  # answers a stream reads beside before the caller takes them (each held in memory meanwhile)
_DONE = object()


class HereStream(_Context):
    """`stream`'s answers computed on the caller's connection as it asks for each."""

    def __init__(self, fn, items):
        self._fn, self._items = fn, items

    def __iter__(self):
        return map(self._fn, self._items)


class Ahead(_Context):
    """`stream`'s answers read on a second connection (_Thread) ahead of the caller, in order. Where the read
    beside gives up (a lock, a connection: see Beside), the caller computes the rest itself, on its own
    connection, as HereStream would. Leaving the context stops the thread and waits for it."""

    def __init__(self, fn, items):
        self._fn, self._items = fn, list(items)
        self._answers = queue.Queue(maxsize=AHEAD)
        self._stop = threading.Event()
        self._thread = _Thread(self._work, finished=lambda: self._put(_DONE))

    def _work(self):
        for item in self._items:
            if self._stop.is_set():
                return
            self._put(self._fn(item))

    def _put(self, answer):
        while not self._stop.is_set():
            try:
                self._answers.put(answer, timeout=0.1)
                return
            except queue.Full:
                continue

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.thread.join()
        return False

    def __iter__(self):
        taken = 0
        while (answer := self._answers.get()) is not _DONE:
            taken += 1
            yield answer
        t = self._thread
        t.thread.join()
        if t.here or _refused(t.error):
            yield from map(self._fn, self._items[taken:])  # here, as HereStream
        elif t.error is not None:
            raise t.error
