"""Hostile review of 2026-12-06 (second round): attacks on delegated delivery, the registry, compliance counts,
casework and the console.

Each test asserts the secure behaviour (README "Who may do what"); each fails on the code it was written
against because of the bug it names."""

from datetime import timedelta

import pytest
from django.utils import timezone

from attestations.models import Attestation, Delegation
from inventory.models import AnyFinding, Facility
from outbox.relay import drain_all
from registry.models import Chip
from registry.registration import register_chips
from tests.attestations import independent as ind
from tests.attestations.conftest import World
from tests.factories import OrganisationFactory, UserFactory, chip_rows


@pytest.fixture
def world(api, parties):
    return World(api, parties)


def _us_operator(code, fac_code, lat, lon):
    org = OrganisationFactory(code=code, kind="operator", country="US")
    user = UserFactory(organisation=org, role="admin")
    Facility.objects.create(code=fac_code, name=fac_code, operator=org, country="US", latitude=lat, longitude=lon)
    return org, user


# --- 1. a stale transfer confirmation takes chips out of a later shipment ----------------------------------


def test_stale_receipt_does_not_take_chips_from_a_later_shipment(api, parties):
    """op-a ships a chip to op-c (T1), reports it lost on the way, recovers it and ships it to op-d (T2).
    op-c then confirms T1 listing the chip: its confirmation must not take custody of a chip that is now in
    another shipment (transfers.receive says so: 'shipped to someone else ... stays where it is')."""
    op_a_user = parties.users["op_a_admin"]
    Facility.objects.create(
        code="US-VA-001", name="VA", operator=parties.op_a, country="US", latitude=38.95, longitude=-77.45
    )
    _op_c, op_c_user = _us_operator("op-c", "US-TX-001", 30.27, -97.74)
    _op_d, op_d_user = _us_operator("op-d", "US-WA-001", 47.61, -122.33)
    register_chips(chip_rows("T", 1), op_a_user)
    chip = "nvidia:T000000"
    a, c, d = api(op_a_user), api(op_c_user), api(op_d_user)
    now = timezone.now()
    t1 = a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-c",
            # No origin site: the chips were never placed at one (origin_mismatch since 4781dd0).
            "destination_facility": "US-TX-001",
            "shipped_at": (now - timedelta(hours=5)).isoformat(),
            "chips": [chip],
        },
    )
    assert t1.status_code == 201, t1.content
    assert a.patch(f"/api/v1/chips/{chip}/", {"status": "lost", "reason": "fell off"}).status_code == 200
    assert a.patch(f"/api/v1/chips/{chip}/", {"status": "installed", "reason": "found"}).status_code == 200
    t2 = a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-d",
            "destination_facility": "US-WA-001",
            "shipped_at": (now - timedelta(hours=2)).isoformat(),
            "chips": [chip],
        },
    )
    assert t2.status_code == 201, t2.content
    late = c.post(
        f"/api/v1/transfers/{t1.json()['id']}/receive/",
        {"received_at": (now - timedelta(hours=1)).isoformat(), "facility": "US-TX-001", "chips": [chip]},
    )
    assert late.status_code == 200, late.content
    held = Chip.objects.get(serial="T000000")
    # Secure: the chip is still in T2, on its way to op-d, held by op-a until op-d confirms it.
    assert held.custodian_id == parties.op_a.pk, "a stale confirmation of T1 took the chip out of T2"
    assert held.status == "in_transit"
    got = d.post(
        f"/api/v1/transfers/{t2.json()['id']}/receive/",
        {"received_at": now.isoformat(), "facility": "US-WA-001", "chips": [chip]},
    )
    assert got.status_code == 200 and got.json()["received"] == 1, got.content


# --- 2. parking chips "in transit" to oneself: attested in use, counted nowhere, no finding -----------------


def test_chips_parked_in_a_self_transfer_and_attested_in_use_do_not_vanish(world):
    """op-a ships its 10 H100s from US-VA-001 to its own US-CA-001 and never confirms the receipt: in transit,
    they add no capacity anywhere (compliance.aggregates). Its node agents keep attesting them in US-VA-001
    (so they are never silent). A chip its holder says is in transit, seen at rest in a facility, must either
    count there or be a finding; today the statement is accepted with no flag and the chips count nowhere."""
    from compliance import aggregates
    from compliance.choices import Scope

    chips = [f"nvidia:A{i:06d}" for i in range(10)]
    placed, _ = world.submit(world.op_a, world.location(chips, issued=timezone.now() - timedelta(hours=3)))
    assert placed.status_code == 201, placed.content
    va = Facility.objects.get(code="US-VA-001")
    assert aggregates.compute(Scope.FACILITY, [va.pk])[str(va.pk)]["chip_count"] == 10
    shipped = world.op_a.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-a",
            "origin_facility": "US-VA-001",
            "destination_facility": "US-CA-001",
            "shipped_at": (timezone.now() - timedelta(hours=2)).isoformat(),
            "chips": chips,
        },
    )
    assert shipped.status_code == 201, shipped.content
    seen, _ = world.submit(world.op_a, world.location(chips))
    assert seen.status_code == 201, seen.content
    drain_all()
    counted = aggregates.compute(Scope.FACILITY, [va.pk]).get(str(va.pk), {}).get("chip_count", 0)
    flagged = AnyFinding.objects.filter(chip_ref__in=chips, source="attestation").exists() or bool(seen.json()["flags"])
    assert counted == 10 or flagged, "10 H100s attested in use at US-VA-001 count nowhere and raise nothing"
    # What the registry says: each is listed in use while its books place it nowhere.
    assert seen.json()["flags"] == {"unexpected": 10}
    finding = AnyFinding.objects.filter(chip_ref=chips[0], kind="unexpected", source="attestation").get()
    assert "while in_transit" in finding.detail and finding.organisation_id == world.p.op_a.pk


# --- 3. delegated delivery: a revocation that lands while a delivery is being checked ----------------------


def test_a_delivery_checked_before_revocation_is_not_stored_after_it(world, monkeypatch):
    """op-b delivers op-a's statement; op-a's admin revokes the delegation while the registry is still
    checking it (after check 5's delegation test, before the store's transaction: a big statement or its
    hardware evidence takes seconds there). README: after a revocation the uploader's deliveries are
    `forbidden`; the statement is stored anyway, received after the revocation, uploaded by op-b."""
    from attestations import checks, delegations

    assert world.op_a.post("/api/v1/delegations/", {"uploader": "op-b"}).status_code == 201
    delegation = Delegation.objects.get()
    original = checks.check_freshness

    def revoked_meanwhile(*args, **kwargs):
        if Delegation.objects.get(pk=delegation.pk).revoked_at is None:
            delegations.revoke(world.p.users["op_a_admin"], delegation)
        return original(*args, **kwargs)

    monkeypatch.setattr(checks, "check_freshness", revoked_meanwhile)
    sent = world.op_b.post("/api/v1/attestations/", ind.envelope(world.location(["nvidia:A000000"]), world.key_a))
    revoked_at = Delegation.objects.get(pk=delegation.pk).revoked_at
    assert revoked_at is not None
    stored = Attestation.objects.filter(uploaded_by_org=world.p.op_b, received_at__gt=revoked_at)
    assert sent.status_code == 403 and not stored.exists(), (sent.status_code, sent.content)


# --- 4. deliveries/?alert= and ?subscription=: an oracle of other countries' alerts and subscriptions ------


def test_delivery_filters_do_not_tell_which_alerts_and_subscriptions_exist(api, parties):
    """insp-fr subscribes to alerts; a US alert (operator op-a) is outside its view. Filtering its own
    deliveries by that alert's id must answer as for an id that does not exist (compliance.filters says why:
    a choice filter answering 400 for one and an empty list for the other tells a party about rows outside its
    view; here, how many alerts the registry has raised everywhere, and every other party's subscriptions)."""
    from compliance.models import Subscription
    from tests.compliance.test_delivery import make_alert

    us_alert = make_alert(parties, country="US")
    treaty_sub = Subscription.objects.create(
        organisation=parties.treaty, name="treaty", webhook_url="https://hooks.example/t", secret="whsec_x"
    )
    fr = api(parties.users["insp_fr"])
    missing = 10**9
    answers = {
        "alert (exists, not mine)": fr.get(f"/api/v1/deliveries/?alert={us_alert.pk}").status_code,
        "alert (no such id)": fr.get(f"/api/v1/deliveries/?alert={missing}").status_code,
        "subscription (another's)": fr.get(f"/api/v1/deliveries/?subscription={treaty_sub.pk}").status_code,
        "subscription (no such id)": fr.get(f"/api/v1/deliveries/?subscription={missing}").status_code,
    }
    assert len(set(answers.values())) == 1, answers
