"""A big location statement's book after its commit (attestations.kinds.location.apply_book).

More than FOLD_INLINE_MAX chips: the 201 comes once the statement, its sightings and its leaf are stored,
with the findings known at once (unknown chips, other parties' chips) as its flags. Its movement findings
and placements (a complete one's declaration and reconciliation too) follow from the statement as stored,
handed to the workers by the outbox (ATTESTATION.md section 6). The tests make statements "big" by
lowering the threshold, as test_ingest does, except the one about the threshold itself.
"""

from datetime import timedelta

import pytest

from attestations.kinds import location
from attestations.kinds.location import apply_book
from inventory.models import AnyFinding, Declaration, Placement
from outbox.models import OutboxEvent
from registry.models import Chip
from tests.attestations.conftest import now

BIG = ["nvidia:A000001", "nvidia:A000002", "nvidia:A000003"]


def accepted(world, client, statement, key):
    response, _ = world.submit(client, statement, key)
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def big(monkeypatch):
    monkeypatch.setattr(location, "FOLD_INLINE_MAX", 2)


def open_at(facility):
    return set(
        Placement.objects.filter(facility__code=facility, valid_to__isnull=True).values_list("chip__serial", flat=True)
    )


def book(att_id):
    """What a book run leaves: (placements, declarations, findings), every column that could change."""
    return (
        sorted(Placement.objects.values_list("chip_id", "facility_id", "cluster_id", "valid_from", "valid_to")),
        sorted(Declaration.objects.values_list("pk", "facility_id", "attestation_id", "chip_count")),
        sorted(AnyFinding.objects.values_list("kind", "chip_ref", "organisation_id", "source_id")),
    )


def test_a_big_statement_is_answered_before_its_book_which_the_outbox_applies(
    world, big, django_capture_on_commit_callbacks
):
    t = now() - timedelta(minutes=10)
    accepted(world, world.op_a, world.location(["nvidia:A000001"], observed=t, issued=t), world.key_a)
    assert open_at("US-VA-001") == {"A000001"}
    statement = world.location([*BIG, "nvidia:NOTREGISTERED1"], facility="US-CA-001", observed=t, issued=t)
    with django_capture_on_commit_callbacks() as callbacks:
        body = accepted(world, world.op_a, statement, world.key_a)
    # The answer: what was known at once. A000001 is in Virginia at that instant too: not said yet.
    assert body["flags"] == {"unknown_chip": 1}
    assert open_at("US-CA-001") == set()
    topics = OutboxEvent.objects.filter(payload__attestation=body["id"]).order_by("id")
    assert list(topics.values_list("topic", flat=True)) == ["statement.book", "sightings.recorded"]
    assert not AnyFinding.objects.filter(kind="two_places").exists()

    for callback in callbacks:  # the commit's relay: eager here, a worker's in production
        callback()
    assert open_at("US-CA-001") == {"A000001", "A000002", "A000003"}
    assert open_at("US-VA-001") == set()
    finding = AnyFinding.objects.get(kind="two_places")
    assert (finding.chip_ref, finding.source_id, finding.organisation.code) == (
        "nvidia:A000001",
        str(body["id"]),
        "op-a",
    )
    assert finding.evidence["log_index"] == body["log_index"]
    listed = world.op_a.get(f"/api/v1/findings/?source_id={body['id']}").json()["results"]
    assert {(f["kind"], f["chip"]) for f in listed} == {
        ("two_places", "nvidia:A000001"),
        ("unknown_chip", "nvidia:NOTREGISTERED1"),
    }
    assert Chip.objects.get(serial="A000003").last_verified_at is not None  # the fold ran after the book


def test_the_threshold_is_a_thousand_chips(world, django_capture_on_commit_callbacks):
    """1,000 chips are a small statement, placed in the request; 1,001 are a big one."""
    for size, placed_at_once in ((1_000, True), (1_001, False)):
        chips = ["nvidia:A000004"] + [f"nvidia:NONE{size}X{i:05d}" for i in range(size - 1)]
        statement = world.location(chips, facility="US-CA-001" if placed_at_once else "US-VA-001")
        with django_capture_on_commit_callbacks() as callbacks:
            accepted(world, world.op_a, statement, world.key_a)
        expected = {"A000004"} if placed_at_once else set()
        assert open_at("US-CA-001" if placed_at_once else "US-VA-001") == expected
        for callback in callbacks:
            callback()
        assert open_at("US-CA-001" if placed_at_once else "US-VA-001") == {"A000004"}


@pytest.mark.parametrize("scope", ["partial", "complete"])
def test_a_redelivered_book_changes_nothing(world, big, scope):
    t = now() - timedelta(minutes=10)
    accepted(world, world.op_a, world.location(["nvidia:A000001"], observed=t, issued=t), world.key_a)
    statement = world.location([*BIG, "nvidia:NOTREGISTERED1"], facility="US-CA-001", observed=t, issued=t, scope=scope)
    body = accepted(world, world.op_a, statement, world.key_a)
    apply_book(body["id"])
    first = book(body["id"])
    assert len(first[0]) == 4 and first[2]  # placed (and one closed), and found
    assert len(first[1]) == (1 if scope == "complete" else 0)
    apply_book(body["id"])  # the worker died before acknowledging: the outbox hands it over again
    assert book(body["id"]) == first


@pytest.mark.parametrize("scope", ["partial", "complete"])
def test_a_chip_handed_over_before_the_book_is_not_placed_on_the_speakers_word(world, big, scope):
    """A's statement lists its chip; before its book runs the chip is B's (a transfer committed meanwhile):
    the book resolves its chips again and does not place B's chip in A's facility."""
    body = accepted(world, world.op_a, world.location(BIG, scope=scope), world.key_a)
    Chip.objects.filter(serial="A000003").update(custodian=world.p.op_b)  # as the transfer would
    apply_book(body["id"])
    assert open_at("US-VA-001") == {"A000001", "A000002"}


def test_another_operators_chip_in_a_big_statement_is_the_custodians_finding(world, big):
    """B lists A's chip (which A saw in Virginia at that instant) among its own in a big statement: B's
    answer says only that the chip is another party's; the book's two-places finding goes to A."""
    t = now() - timedelta(minutes=10)
    accepted(world, world.op_a, world.location(["nvidia:A000000"], observed=t, issued=t), world.key_a)
    chips = ["nvidia:A000000", "nvidia:B000000", "nvidia:B000001"]
    statement = world.location(chips, facility="DE-FRA-001", operator="op-b", observed=t, issued=t)
    body = accepted(world, world.op_b, statement, world.key_b)
    assert body["flags"] == {"other_operator": 1}
    apply_book(body["id"])
    about_a = AnyFinding.objects.filter(chip_ref="nvidia:A000000", source_id=str(body["id"]))
    assert set(about_a.values_list("kind", flat=True)) == {"other_operator", "two_places"}
    assert {f.organisation.code for f in about_a} == {"op-a"}
    assert world.op_b.get(f"/api/v1/findings/?source_id={body['id']}").json()["results"] == []
    assert open_at("DE-FRA-001") == {"B000000", "B000001"}  # and A's chip is not B's to place


@pytest.mark.django_db(transaction=True)
def test_the_books_placements_wait_their_turn_behind_the_logs_writers(api, parties, monkeypatch):
    """While another transaction holds the log's writers' lock (an append not yet committed), the book
    places nothing; once that transaction commits, the book goes on. Placements are written one writer
    at a time, after the commit as in a request."""
    import threading

    from django.db import connections, transaction

    from tests.attestations.conftest import World
    from transparency.log import _reserve

    monkeypatch.setattr(location, "FOLD_INLINE_MAX", 2)
    world = World(api, parties)
    body = accepted(world, world.op_a, world.location(BIG), world.key_a)
    # Committed for real here, so the commit's relay ran the book at once (eager): undo its placements,
    # for this test's run of the book to make them again.
    assert open_at("US-VA-001") == {"A000001", "A000002", "A000003"}
    Placement.objects.filter(facility__code="US-VA-001").delete()
    holding, release = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                _reserve(0)  # what every append does first: take the head row (transparency.log)
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    def run_book():
        try:
            apply_book(body["id"])
        finally:
            connections.close_all()

    held = threading.Thread(target=writer)
    held.start()
    assert holding.wait(30)
    booking = threading.Thread(target=run_book)
    booking.start()
    booking.join(1.5)
    assert booking.is_alive()  # waiting for the lock, not placing
    assert open_at("US-VA-001") == set()
    release.set()
    held.join(30)
    booking.join(30)
    assert not booking.is_alive()
    assert open_at("US-VA-001") == {"A000001", "A000002", "A000003"}
