"""Issue 19 "Chips leave the books only with evidence", reviewed as a hostile party: each test performs an attack
or sends garbage the merged code mishandled, with the party's own real token."""

import pytest

from registry.models import Chip, DisposalRequest
from tests.factories import chip_rows
from tests.registry.test_disposals import ask, books, ids  # noqa: F401 (fixture)


@pytest.mark.parametrize("user", ["op_a_admin", "nvidia"])
def test_a_chip_is_not_registered_in_transit_off_every_total(api, parties, user):
    """Totals count manufactured and installed chips only; in transit is entered only by a transfer's shipment.
    A chip registered `in_transit` was on the books yet in no total, bound to no transfer, and its holder could
    never PATCH it out (transit_by_transfer): a way to declare chips and keep them out of every count."""
    client = api(parties.users[user])
    response = client.post("/api/v1/chips/", chip_rows("T", 3, status="in_transit"))
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_rows" and "in_transit" in response.content.decode()
    assert not Chip.objects.filter(serial__startswith="T0000").exists()


def test_a_disposal_id_in_other_digits_is_a_404_not_a_500(api, books):  # noqa: F811
    """`_pk` took str.isdigit() ('²' passes) and then int() raised: a 500 on every detail route."""
    op = api(books.users["op_a_admin"])
    row = ask(op, ids("D", 2)).json()
    insp = api(books.users["insp_us"])
    for raw in ("²", "³1", "¹²"):
        for path in (f"{raw}/", f"{raw}/accept/", f"{raw}/refuse/", f"{raw}/attachments/0/"):
            method = insp.post if path.endswith(("accept/", "refuse/")) else insp.get
            response = method(f"/api/v1/disposals/{path}", {"reason": "x"} if method == insp.post else None)
            assert response.status_code == 404, (path, response.content)
    assert DisposalRequest.objects.get(pk=row["id"]).state == "pending"


def test_chips_moved_to_another_country_after_the_request_are_not_witnessed_by_the_first(api, books):  # noqa: F811
    """The witness is the inspectorate of the chips' country, fixed when the holder asks. The holder then declared
    the chips at its facility in France: the US inspectorate (no longer theirs) could still accept, and the chips
    left France's books with no French witness and a `disposal.accepted` event France does not read."""
    from datetime import timedelta

    from django.utils import timezone

    from inventory.chiprefs import parse_listing
    from inventory.models import Facility
    from inventory.services.listings import record_declaration

    op_user = books.users["op_a_admin"]
    row = ask(api(op_user), ids("D", 3)).json()
    assert row["country"] == "US"
    fr = Facility.objects.create(
        code="FR-PA-001", name="Paris", operator=books.op_a, country="FR", latitude=48.85, longitude=2.35
    )
    record_declaration(op_user, fr, timezone.now() - timedelta(minutes=1), parse_listing(ids("D", 3), 1_000_000))
    assert set(Chip.objects.filter(serial__in=["D000000", "D000001", "D000002"]).values_list("country", flat=True)) == {
        "FR"
    }
    response = api(books.users["insp_us"]).post(f"/api/v1/disposals/{row['id']}/accept/", {"reason": "seen"})
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "chips_changed"
    assert set(Chip.objects.filter(serial__in=["D000000", "D000001", "D000002"]).values_list("status", flat=True)) == {
        "installed"
    }
    assert DisposalRequest.objects.get(pk=row["id"]).state == "pending"
    # It can still be refused (by its witness of record), and the holder asks again, in France.
    refused = api(books.users["insp_us"]).post(f"/api/v1/disposals/{row['id']}/refuse/", {"reason": "moved"})
    assert refused.status_code == 200, refused.content


def test_chips_reported_lost_after_the_request_are_not_accepted_off_the_watch_list(api, books):  # noqa: F811
    """Asked destroyed (installed), then reported lost: lost -> destroyed is a transition, so the witness's accept
    went through on evidence about installed chips, and took the lost chip off the watch list (a later sighting no
    longer critical). The request's `DisposalChip.status` is what the witness was told; a chip that is no longer in
    it has changed."""
    op = api(books.users["op_a_admin"])
    row = ask(op, ids("D", 2)).json()
    lost = op.patch("/api/v1/chips/nvidia:D000001/", {"status": "lost", "reason": "gone from the rack"})
    assert lost.status_code == 200, lost.content
    response = api(books.users["treaty"]).post(f"/api/v1/disposals/{row['id']}/accept/", {"reason": "ok"})
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "chips_changed"
    assert Chip.objects.get(serial="D000001").status == "lost"
    assert Chip.objects.get(serial="D000000").status == "installed"
    assert [c["id"] for c in api(books.users["insp_us"]).get("/api/v1/watchlist/").json()["results"]] == [
        "nvidia:D000001"
    ]


def test_a_chip_reported_lost_in_transit_and_recovered_at_home_is_still_sighted_at_its_receipt(api, books):  # noqa: F811
    """The shipper reports a chip lost on the way (in transit may be left only so), then `recovers` it at rest at
    home on its own word (lost -> installed), before the receiver confirms it. The receipt moves nothing (the
    chip left the shipment) and, the chip no longer being lost, raised no finding at all: the books keep the chip
    at the shipper while its receiver says it arrived. A chip that left its shipment was reported lost or stolen
    since it shipped: its receipt is a sighting of it, whatever its holder said after."""
    from datetime import timedelta

    from django.utils import timezone

    from inventory.models import AnyFinding, Facility
    from tests.factories import approved_export

    Facility.objects.create(
        code="DE-FRA-001", name="FRA", operator=books.op_b, country="DE", latitude=50.11, longitude=8.68
    )
    op_a, op_b = api(books.users["op_a_admin"]), api(books.users["op_b"])
    now = timezone.now()
    licence = approved_export(
        books.users["op_a_admin"], "op-b", ["nvidia:D000007"], "US-VA-001", "DE-FRA-001", reference="US-LIC-7"
    )
    transfer = op_a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-b",
            "origin_facility": "US-VA-001",
            "destination_facility": "DE-FRA-001",
            "shipped_at": (now - timedelta(hours=3)).isoformat(),
            "chips": ["nvidia:D000007"],
            "export_authorisation": licence,
        },
    )
    assert transfer.status_code == 201, transfer.content
    assert op_a.patch("/api/v1/chips/nvidia:D000007/", {"status": "lost", "reason": "fell off"}).status_code == 200
    assert op_a.patch("/api/v1/chips/nvidia:D000007/", {"status": "installed", "reason": "found"}).status_code == 200
    received = op_b.post(
        f"/api/v1/transfers/{transfer.json()['id']}/receive/",
        {"received_at": (now - timedelta(hours=1)).isoformat(), "facility": "DE-FRA-001", "chips": ["nvidia:D000007"]},
    )
    assert received.status_code == 200, received.content
    assert received.json()["withdrawn"] == 1
    sighted = AnyFinding.objects.filter(kind="lost_chip_sighted", chip_ref="nvidia:D000007")
    assert {f.country for f in sighted} == {"US", "DE"} and {f.organisation_id for f in sighted} == {books.op_a.pk}
    # The receiver is no party to it (it learns only the `withdrawn` count of its own receipt).
    assert not [f for f in sighted if books.op_b.pk in (f.organisation_id, f.other_organisation_id)]
    assert Chip.objects.get(serial="D000007").custodian_id == books.op_a.pk


def test_a_stolen_chip_in_another_operators_declaration_is_a_sighting_it_learns_nothing_of(api, books):  # noqa: F811
    """A lost or stolen chip seen again *anywhere* is critical. Another operator's declaration of its facility
    listing the chip (the thief's own listing) raised only the declarer's `unexpected` finding: the watch list
    never heard of it. The declarer is no party to the sighting, and its answer says no more than before."""
    from datetime import timedelta

    from django.utils import timezone

    from inventory.models import AnyFinding, Facility

    Facility.objects.create(
        code="DE-FRA-001", name="FRA", operator=books.op_b, country="DE", latitude=50.11, longitude=8.68
    )
    op_a, op_b = api(books.users["op_a_admin"]), api(books.users["op_b"])
    assert op_a.patch("/api/v1/chips/nvidia:D000003/", {"status": "stolen", "reason": "truck"}).status_code == 200
    listing = ["nvidia:D000003", *ids("OB", 5)]
    declared = op_b.post(
        "/api/v1/declarations/",
        {"facility": "DE-FRA-001", "as_of": (timezone.now() - timedelta(minutes=1)).isoformat(), "chips": listing},
    )
    assert declared.status_code == 201, declared.content
    assert "lost_chip_sighted" not in declared.json()["findings"]
    sighted = AnyFinding.objects.filter(kind="lost_chip_sighted", chip_ref="nvidia:D000003")
    assert {f.country for f in sighted} == {"US", "DE"} and {f.organisation_id for f in sighted} == {books.op_a.pk}
    assert not [f for f in sighted if books.op_b.pk in (f.organisation_id, f.other_organisation_id)]
    mine = op_b.get("/api/v1/findings/?kind=lost_chip_sighted")
    assert mine.status_code == 200 and mine.json()["results"] == []


def test_the_witness_is_told_a_chip_asked_destroyed_was_reported_stolen(api, books):  # noqa: F811
    """Stolen -> destroyed is a transition: a holder may ask to have chips it reported stolen destroyed, and an
    acceptance takes them off the watch list. The request recorded each chip's status when asked ("what the
    witness is told it leaves") but showed the witness only the chips' ids."""
    op = api(books.users["op_a_admin"])
    assert op.patch("/api/v1/chips/nvidia:D000004/", {"status": "stolen", "reason": "truck"}).status_code == 200
    row = ask(op, ["nvidia:D000004", "nvidia:D000005"]).json()
    seen = api(books.users["insp_us"]).get(f"/api/v1/disposals/{row['id']}/").json()
    assert seen["chip_statuses"] == {"installed": 1, "stolen": 1}
