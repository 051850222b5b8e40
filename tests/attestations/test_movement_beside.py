"""A big location statement reads its movement check on a second connection, beside its placements
(core.beside): the same findings, the same answer, as read on its own connection; never inside an enclosing
transaction, whose rows a second connection cannot see."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction

from attestations import findings as F
from attestations.kinds import location
from core import beside
from inventory.models import AnyFinding, Placement
from tests.attestations.conftest import World, now
from tests.connections import second_connection

CHIPS = ["nvidia:A000001", "nvidia:A000002", "nvidia:A000003"]


def big_statements(monkeypatch, beside_min):
    """Three chips take a big statement's path (FOLD_INLINE_MAX), and its movement is read beside its
    placements from `beside_min` chips. Returns the backend pids the movement check read on."""
    monkeypatch.setattr(location, "FOLD_INLINE_MAX", 2)
    monkeypatch.setattr(location, "MOVEMENT_BESIDE_MIN", beside_min)
    read_on = []
    movement = F.movement

    def recording(*args, **kwargs):
        read_on.append(connection.cursor().connection.info.backend_pid)
        return movement(*args, **kwargs)

    monkeypatch.setattr(F, "movement", recording)
    return read_on


def refuse_connections_beside(monkeypatch):
    """The server refuses every connection a read beside asks for (its connections all taken)."""
    from django.db import OperationalError
    from django.db.backends.postgresql.base import DatabaseWrapper

    connect = DatabaseWrapper.get_new_connection

    def refused_beside(self, params):
        if threading.current_thread().name == "chipreg-beside":
            raise OperationalError("sorry, too many clients already")
        return connect(self, params)

    monkeypatch.setattr(DatabaseWrapper, "get_new_connection", refused_beside)


def two_places(world):
    """A000001 seen in Virginia, then three chips listed in California at the same time: one two-places."""
    t = now() - timedelta(minutes=10)
    first, _ = world.submit(world.op_a, world.location(["nvidia:A000001"], observed=t, issued=t))
    assert first.status_code == 201, first.content
    response, _ = world.submit(world.op_a, world.location(CHIPS, facility="US-CA-001", observed=t, issued=t))
    assert response.status_code == 201, response.content
    return response


def findings_of(response):
    rows = AnyFinding.objects.filter(source="attestation", source_id=str(response.json()["id"]))
    return sorted(rows.values_list("kind", "chip_ref"))


def placed():
    rows = Placement.objects.filter(valid_to__isnull=True).values_list("chip__serial", "facility__code")
    return sorted(rows)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("beside_min", [1, 10**9], ids=["beside", "here"])
def test_a_big_statement_finds_the_same_read_beside_or_here(catalog, api, parties, monkeypatch, beside_min):
    """The statement's transaction is the outermost: from MOVEMENT_BESIDE_MIN chips the movement check reads
    on another backend than the request's, and finds, flags and places exactly what it does read here."""
    read_on = big_statements(monkeypatch, beside_min)
    response = two_places(World(api, parties))
    assert response.json()["flags"] == {"two_places": 1}
    assert findings_of(response) == [("two_places", "nvidia:A000001")]
    assert placed() == [("A000001", "US-CA-001"), ("A000002", "US-CA-001"), ("A000003", "US-CA-001")]
    request_pid = connection.cursor().connection.info.backend_pid  # the test client runs the request here
    assert len(read_on) == 2  # the small first statement's, and the big one's
    assert (read_on[-1] != request_pid) is (beside_min == 1)


@pytest.mark.django_db
def test_inside_an_enclosing_transaction_the_movement_is_read_here(world, monkeypatch):
    """Inside the test's transaction a second connection would see none of its rows (the first sighting in
    Virginia, the chips themselves) and find nothing: the check reads on the request's own connection."""
    read_on = big_statements(monkeypatch, 1)
    response = two_places(world)
    assert response.json()["flags"] == {"two_places": 1}
    assert set(read_on) == {connection.cursor().connection.info.backend_pid}


def _backend_alive(pid):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 1


def _state():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('transaction_read_only'), current_setting('jit'), pg_backend_pid()")
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_a_read_beside_runs_read_only_without_jit_and_closes_its_connection():
    with transaction.atomic():
        assert beside.available()
        with beside.run(_state) as read:
            read_only, jit, pid = read.result()
        assert isinstance(read, beside.Beside)
        assert (read_only, jit) == ("on", "off")
        assert pid != connection.cursor().connection.info.backend_pid
    deadline = time.monotonic() + 5
    while _backend_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _backend_alive(pid)


@pytest.mark.django_db(transaction=True)
def test_a_read_beside_cannot_write():
    def write():
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE beside_should_not_exist (id int)")

    from django.db import InternalError

    with transaction.atomic(), beside.run(write) as read, pytest.raises(InternalError, match="read-only"):
        read.result()
    assert "beside_should_not_exist" not in connection.introspection.table_names()


@pytest.mark.django_db(transaction=True)
def test_what_a_read_beside_raises_is_raised_in_the_caller_and_an_error_here_still_waits_for_it():
    class Boom(Exception):
        pass

    def fails():
        raise Boom("beside")

    with transaction.atomic(), beside.run(fails) as read, pytest.raises(Boom, match="beside"):
        read.result()

    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(5)
        return "done"

    with pytest.raises(Boom, match="here"), transaction.atomic():
        with beside.run(slow) as read:
            started.wait(5)
            threading.Timer(0.2, release.set).start()
            raise Boom("here")
    assert not read._thread.thread.is_alive()  # leaving the block waited for it
    assert read.result() == "done"


@pytest.mark.django_db
def test_outside_a_transaction_or_inside_an_enclosing_one_the_read_runs_here():
    assert connection.in_atomic_block  # the test's own transaction
    with transaction.atomic():
        assert not beside.available()
        with beside.run(_state) as read:
            assert isinstance(read, beside.Here)
            assert read.result()[2] == connection.cursor().connection.info.backend_pid
    with beside.run(_state, beside=False) as read:
        assert isinstance(read, beside.Here)


@pytest.mark.django_db(transaction=True)
def test_a_read_beside_never_waits_for_its_caller_behind_a_queued_lock(monkeypatch):
    """The partition task's CREATE TABLE ... PARTITION OF takes an ACCESS EXCLUSIVE lock on the parent table, and
    queues behind a big statement that wrote to it; a read beside queued behind that would wait for the statement
    that waits for it. Here a LOCK TABLE queued behind the caller's row-exclusive lock: the read beside gives up at
    LOCK_TIMEOUT_MS and the caller reads on its own connection, past the queued request, the same answer."""
    from registry.models import Organisation

    monkeypatch.setattr(beside, "LOCK_TIMEOUT_MS", 200)
    ddl = second_connection()
    table = Organisation._meta.db_table
    queued = threading.Event()

    def exclusive():
        with ddl.transaction():
            queued.set()
            ddl.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')

    def count():
        return Organisation.objects.count(), connection.cursor().connection.info.backend_pid

    try:
        with transaction.atomic():
            Organisation.objects.create(code="beside-test", kind="operator", country="US")  # ROW EXCLUSIVE held
            here = connection.cursor().connection.info.backend_pid
            waiter = threading.Thread(target=exclusive)
            waiter.start()
            queued.wait(5)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not _waiting_for_lock(ddl.info.backend_pid):
                time.sleep(0.02)
            assert _waiting_for_lock(ddl.info.backend_pid)
            started = time.monotonic()
            with beside.run(count) as read:
                rows, read_on = read.result()
            assert time.monotonic() - started < 3
            assert read_on == here  # read on the caller's connection, after the read beside gave up
            assert rows == Organisation.objects.count()
        waiter.join(10)
        assert not waiter.is_alive()  # the queued request had its lock once the caller committed
    finally:
        ddl.close()


def _waiting_for_lock(pid):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_read_beside_that_cannot_connect_is_read_here(monkeypatch):
    """The server's connections all taken: the second connection is refused, and the caller reads on its own
    rather than failing the statement."""
    refuse_connections_beside(monkeypatch)
    with transaction.atomic():
        with beside.run(_state) as read:
            assert isinstance(read, beside.Beside)
        read_only, _, pid = read.result()
        assert pid == connection.cursor().connection.info.backend_pid
        assert read_only == "off"  # the caller's own transaction


# --- a big statement's chips resolved a chunk ahead of its sightings' COPY (core.beside.stream) -------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ahead", [True, False], ids=["ahead", "here"])
def test_a_big_statements_chunks_are_resolved_ahead_and_its_sightings_copied_each(
    catalog, api, parties, monkeypatch, ahead
):
    """Chunks of two ids: the statement's five chips (one unknown to the registry) are looked up a chunk ahead on a
    second connection while the last chunk's sightings are COPYed, or here between the COPYs; either way every
    sighting is stored once, with its chip, the unknown one as a chipless sighting, and the answer flags it."""
    from attestations.models import ChiplessSighting, Sighting
    from inventory import chiprefs

    monkeypatch.setattr(location, "FOLD_INLINE_MAX", 2)
    monkeypatch.setattr(chiprefs, "STREAM_CHUNK", 2)
    streams = []
    stream = beside.stream

    def recording(fn, items, beside=True):
        made = stream(fn, items, beside=beside and ahead)
        streams.append(type(made))
        return made

    monkeypatch.setattr(beside, "stream", recording)
    world = World(api, parties)
    chips = ["nvidia:A000001", "nvidia:A000002", "nvidia:Z999999", "nvidia:A000003", "nvidia:A000004"]
    response, _ = world.submit(world.op_a, world.location(chips))
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"unknown_chip": 1}
    assert streams == [beside.Ahead if ahead else beside.HereStream]
    att = response.json()["id"]
    stored = Sighting.objects.filter(attestation=att).values_list("chip__serial", "chip_ref")
    assert sorted(stored) == [(ref.split(":")[1], ref) for ref in sorted(chips) if "Z" not in ref]
    assert list(ChiplessSighting.objects.filter(attestation=att).values_list("chip_ref", flat=True)) == [
        "nvidia:Z999999"
    ]


@pytest.mark.django_db(transaction=True)
def test_a_stream_read_beside_that_gives_up_is_finished_here_in_order(monkeypatch):
    """The third answer's read beside cannot have its lock: the caller takes the first two from the second
    connection and computes the rest itself, on its own, in order."""
    from django.db import OperationalError
    from psycopg import errors as pg_errors

    def answer(n):
        if n == 3 and threading.current_thread().name == "chipreg-beside":
            try:
                raise pg_errors.LockNotAvailable("canceling statement due to lock timeout")
            except pg_errors.LockNotAvailable as exc:
                raise OperationalError(str(exc)) from exc
        return n, connection.cursor().connection.info.backend_pid

    with transaction.atomic():
        here = connection.cursor().connection.info.backend_pid
        with beside.stream(answer, range(1, 6)) as answers:
            got = list(answers)
    assert [n for n, _ in got] == [1, 2, 3, 4, 5]
    assert all(pid != here for _, pid in got[:2]) and all(pid == here for _, pid in got[2:])


@pytest.mark.django_db(transaction=True)
def test_a_stream_raises_what_its_read_beside_raised_and_stops_when_its_caller_does():
    class Boom(Exception):
        pass

    def fails_at_two(n):
        if n == 2:
            raise Boom("beside")
        return n

    with transaction.atomic(), beside.stream(fails_at_two, range(1, 4)) as answers:
        got = []
        with pytest.raises(Boom, match="beside"):
            for n in answers:
                got.append(n)
        assert got == [1]

    computed = []

    def slow(n):
        computed.append(n)
        return n

    with pytest.raises(Boom, match="here"), transaction.atomic():
        with beside.stream(slow, range(1, 1000)) as answers:
            for n in answers:
                if n == 2:
                    raise Boom("here")
    assert not answers._thread.thread.is_alive()  # leaving the block stopped it and waited
    assert len(computed) <= 2 + beside.AHEAD + 1  # it stopped early: at most AHEAD answers (and one more) ahead


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("read", ["refused", "here"])
def test_a_movement_read_that_falls_back_here_reads_before_the_statements_own_placements(
    catalog, api, parties, monkeypatch, read
):
    """A000001 placed in Virginia ten minutes before a big statement lists it in California: the placement is the
    only evidence of impossible travel, and the statement's own placement closes it at its time. Where the read
    beside cannot have its connection, the caller reads on its own, and must read what it would have read before
    its placements were written (as here, and as beside), not after: the same finding either way."""

    from inventory.choices import PlacementSource
    from inventory.models import Facility
    from registry.models import Chip

    big_statements(monkeypatch, 1 if read == "refused" else 10**9)
    refuse_connections_beside(monkeypatch)
    world = World(api, parties)
    t = now() - timedelta(minutes=10)
    Placement.objects.create(
        chip=Chip.objects.get(serial="A000001"),
        facility=Facility.objects.get(code="US-VA-001"),
        valid_from=t - timedelta(minutes=10),
        source=PlacementSource.ATTESTATION,
        source_id="earlier",
    )
    response, _ = world.submit(world.op_a, world.location(CHIPS, facility="US-CA-001", observed=t, issued=t))
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"impossible_travel": 1}
    assert findings_of(response) == [("impossible_travel", "nvidia:A000001")]
    assert placed() == [("A000001", "US-CA-001"), ("A000002", "US-CA-001"), ("A000003", "US-CA-001")]


@pytest.mark.django_db(transaction=True)
def test_a_big_statements_movement_is_read_in_parts_each_on_its_own_connection(catalog, api, parties, monkeypatch):
    """Chunks of two chips: the big statement's three chips are read in two parts (a chunk each), each on a
    backend of its own, neither the request's, and the findings are those of one read: the two-places of the
    first part's chip, flagged once."""
    read_on = big_statements(monkeypatch, 1)
    monkeypatch.setattr(F, "CHUNK", 2)
    response = two_places(World(api, parties))
    assert response.json()["flags"] == {"two_places": 1}
    assert findings_of(response) == [("two_places", "nvidia:A000001")]
    request_pid = connection.cursor().connection.info.backend_pid
    big = read_on[1:]  # the small first statement's read was on the request's connection
    assert len(big) == 2 and len(set(big)) == 2 and request_pid not in big
