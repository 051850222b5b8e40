"""A disposal awaiting witness and a change of custody (hostile review, session 14).

Before: op-a asked for a chip's destruction, then shipped it to op-b; op-b, holding it now, asked for its own
disposal and was refused 409 `already_requested`, learning of op-a's request (one it may not read) and unable to
have its own chip witnessed until someone refused op-a's. Now chips in a pending request do not ship (409
`disposal_pending`, the shipper's own request), and a request left behind a change of custody by earlier data no
longer holds the new holder's.
"""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from inventory.chiprefs import parse_listing
from inventory.models import Facility, Transfer
from inventory.services.listings import record_declaration
from outbox.relay import drain_all
from registry.models import Chip, DisposalChip, DisposalRequest
from registry.registration import register_chips
from tests.factories import approved_export, chip_rows
from tests.registry.test_disposals import ask, ids


@pytest.fixture
def books(parties):
    """op-a holds 20 H100s declared at US-VA-001 (US); op-b runs DE-FRA-001."""
    op = parties.users["op_a_admin"]
    fac = Facility.objects.create(
        code="US-VA-001", name="VA", operator=parties.op_a, country="US", latitude=38.95, longitude=-77.45
    )
    Facility.objects.create(
        code="DE-FRA-001", name="Frankfurt", operator=parties.op_b, country="DE", latitude=50.11, longitude=8.68
    )
    register_chips(chip_rows("D", 20), op)
    record_declaration(op, fac, timezone.now() - timedelta(days=1), parse_listing(ids("D", 20), 1_000_000))
    drain_all()
    return parties


def _ship(op_a, parties, chip):
    licence = approved_export(parties.users["op_a_admin"], "op-b", chip, "US-VA-001", reference="US-LIC-9")
    return op_a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-b",
            "origin_facility": "US-VA-001",
            "shipped_at": (timezone.now() - timedelta(hours=2)).isoformat(),
            "chips": chip,
            "export_authorisation": licence,
        },
    )


def test_chips_in_a_pending_disposal_do_not_ship_until_it_is_decided(api, books, parties):
    op_a = api(parties.users["op_a_admin"])
    chip = ids("D", 1)
    request = ask(op_a, chip)
    assert request.status_code == 201, request.content
    r = _ship(op_a, parties, chip)
    assert r.status_code == 409 and r.json()["code"] == "disposal_pending", r.content
    assert not Transfer.objects.exists()
    assert Chip.objects.get(serial="D000000").status == "installed"
    # Once its witness has refused it, the chip ships.
    insp = api(parties.users["insp_us"])
    refused = insp.post(f"/api/v1/disposals/{request.json()['id']}/refuse/", {"reason": "no certificate"})
    assert refused.status_code == 200, refused.content
    assert _ship(op_a, parties, chip).status_code == 201


def test_a_former_holders_pending_request_does_not_hold_the_new_holders(api, books, parties):
    """Custody changed under a pending request (as earlier data may hold): the new holder asks for its own
    disposal and gets it, learning nothing of the former's; the former's can only be refused."""
    op_a, op_b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
    chip = ids("D", 1)
    assert ask(op_a, chip).status_code == 201
    stale = DisposalRequest.objects.get()
    Chip.objects.filter(serial="D000000").update(custodian=parties.op_b)  # as a receipt before this rule would
    mine = ask(op_b, chip)
    assert mine.status_code == 201, mine.content
    assert not DisposalChip.objects.filter(request=stale, pending=True).exists()
    assert DisposalChip.objects.filter(request_id=mine.json()["id"], pending=True).count() == 1


# --- a third review: another party's request, and a request whose chips were taken out --------------------------


def test_a_former_holders_pending_request_does_not_stop_the_new_holder_shipping(api, books, parties):
    op_a, op_b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
    chip = ids("D", 1)
    assert ask(op_a, chip).status_code == 201
    stale = DisposalRequest.objects.get()
    now = timezone.now()
    licence = approved_export(
        parties.users["op_a_admin"], "op-b", chip, "US-VA-001", "DE-FRA-001", reference="US-LIC-R3"
    )
    # Shipped as before f5363be (no disposal_pending then), and received by op-b through the API.
    with mock.patch("registry.disposals.pending_of", return_value=set()):
        shipped = op_a.post(
            "/api/v1/transfers/",
            {
                "receiver": "op-b",
                "origin_facility": "US-VA-001",
                "destination_facility": "DE-FRA-001",
                "shipped_at": (now - timedelta(hours=3)).isoformat(),
                "chips": chip,
                "export_authorisation": licence,
            },
        )
    assert shipped.status_code == 201, shipped.content
    received = op_b.post(
        f"/api/v1/transfers/{shipped.json()['id']}/receive/",
        {"received_at": (now - timedelta(hours=2)).isoformat(), "facility": "DE-FRA-001", "chips": chip},
    )
    assert received.status_code == 200, received.content
    assert Chip.objects.get(serial="D000000").custodian_id == parties.op_b.pk
    assert DisposalChip.objects.filter(request=stale, pending=True).exists()  # op-a's, left behind

    # op-b, the honest holder now, ships its chip on (back to op-a, under a German licence).
    back = approved_export(parties.users["op_b"], "op-a", chip, "DE-FRA-001", "US-VA-001", reference="DE-LIC-R3")
    r = op_b.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-a",
            "origin_facility": "DE-FRA-001",
            "destination_facility": "US-VA-001",
            "shipped_at": (now - timedelta(hours=1)).isoformat(),
            "chips": chip,
            "export_authorisation": back,
        },
    )
    # Not 409 disposal_pending: the request is op-a's (which op-b may not read), and it can never be accepted.
    assert r.status_code == 201, (r.status_code, r.content[:400])


def test_a_request_whose_chips_were_taken_out_is_not_accepted(api, books, parties):
    op_a, op_b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
    insp = api(parties.users["insp_us"])
    chip = ids("D", 1)
    assert ask(op_a, chip).status_code == 201
    stale = DisposalRequest.objects.get()
    Chip.objects.filter(serial="D000000").update(custodian=parties.op_b)  # a receipt before the rule (earlier data)
    mine = ask(op_b, chip)
    assert mine.status_code == 201, mine.content
    assert not DisposalChip.objects.filter(request=stale, pending=True).exists()  # taken out of op-a's
    assert insp.post(f"/api/v1/disposals/{mine.json()['id']}/refuse/", {"reason": "no"}).status_code == 200
    Chip.objects.filter(serial="D000000").update(custodian=parties.op_a)  # back with op-a (a later transfer)
    r = insp.post(f"/api/v1/disposals/{stale.pk}/accept/", {})
    assert r.status_code == 409 and r.json()["code"] == "chips_changed", (r.status_code, r.content[:300])
    assert Chip.objects.get(serial="D000000").status == "installed"
