"""Issue 15, the attestation ingest path: no operator speaks for another's facility, learns another's data
through its flags, signs with a key outside its life, or stores a number no total can sum.

Each attack is made as the hostile party would make it: with its own valid key and token, through the API.
"""

import json
import math
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestations import checks
from attestations.models import (
    AnyUsageRecord,
    Attestation,
    ChiplessSighting,
    Rejection,
    Sighting,
    SigningKey,
    StatementNonce,
    UsageDay,
    UsageRecord,
)
from compliance.models import Alert
from inventory.models import AnyFinding, Declaration, Placement
from protocol.errors import ProtocolError
from protocol.statements import MAX_CHIP_POWER_W, MAX_RTT_MS, parse_statement
from registry.models import Chip
from registry.registration import register_chips
from tests.attestations import independent as ind
from tests.attestations.conftest import now, ts
from tests.factories import OrganisationFactory, UserFactory, chip_rows
from transparency.models import LogEventData, LogLeaf


def accepted(world, client, statement, *keys):
    response, _ = world.submit(client, statement, *keys)
    assert response.status_code == 201, response.content
    return response.json()


def refused(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    rejection = Rejection.objects.order_by("-id").first()
    assert rejection is not None and (rejection.status, rejection.code) == (status, code)


def state():
    """Everything a statement could leave behind, rejection records apart."""
    return {
        "attestations": Attestation.objects.count(),
        "nonces": StatementNonce.objects.count(),
        "sightings": Sighting.objects.count(),
        "chipless_sightings": ChiplessSighting.objects.count(),
        "usage": AnyUsageRecord.objects.count(),
        "usage_days": UsageDay.objects.count(),
        "declarations": Declaration.objects.count(),
        "placements": sorted(
            Placement.objects.values_list("chip_id", "facility_id", "cluster_id", "valid_from", "valid_to")
        ),
        "findings": AnyFinding.objects.count(),
        "alerts": Alert.objects.count(),
        "leaves": LogLeaf.objects.count(),
        "verified": sorted(Chip.objects.values_list("pk", "last_verified_at")),
    }


def padded(chips, size=checks.PEEK_MAX_BYTES + 6_000):
    """Enough unregistered chips that the payload is beyond the read-ahead (checks.PEEK_MAX_BYTES): the
    statement then takes the path on which its facility is read after the parse."""
    n = size // 30
    return list(chips) + [f"nvidia:PAD{i:07d}" for i in range(n)]


# --- item 1: a statement is only about a facility its operator operates -----------------------------------


@pytest.fixture
def a_placed(world):
    """A's chips A000000..A000004 placed at A's US-VA-001 by A's own complete statement."""
    t = now() - timedelta(hours=1)
    accepted(
        world,
        world.op_a,
        world.location([f"nvidia:A00000{i}" for i in range(5)], scope="complete", observed=t, issued=t),
    )
    return world


@pytest.mark.parametrize("read_ahead", [True, False], ids=["read-ahead", "after-parse"])
@pytest.mark.parametrize("scope", ["complete", "partial"])
def test_location_about_another_operators_facility_is_refused(a_placed, scope, read_ahead):
    world = a_placed
    before = state()
    # B signs, with its own key, a statement in which B speaks about A's facility: a complete one that omits
    # most of A's chips (unaccounted findings, a high alert against A) and moves one between A's clusters,
    # or a partial one that puts B's chips into A's inventory.
    chips = (
        [{"chip": "nvidia:A000000", "cluster": "c-east-2"}]
        if scope == "complete"
        else ["nvidia:B000000", "nvidia:B000001"]
    )
    if not read_ahead:
        chips = padded(chips)
    statement = world.location(chips, facility="US-VA-001", operator="op-b", scope=scope)
    response, _ = world.submit(world.op_b, statement, world.key_b)
    refused(response, 403, "facility_not_operated")
    assert state() == before  # nothing of it stored: no row, move, finding, alert or log leaf


def test_usage_about_another_operators_facility_is_refused(world):
    before = state()
    end = now() - timedelta(minutes=5)
    start = end - timedelta(hours=1)
    rows = [{"chip": f"nvidia:B00000{i}", "active_s": 3600, "utilization": 1, "energy_j": 2.5e6} for i in range(5)]
    response, _ = world.submit(
        world.op_b, world.usage(rows, start, end, facility="US-VA-001", operator="op-b"), world.key_b
    )
    refused(response, 403, "facility_not_operated")
    assert state() == before  # A's facility's compute did not move
    assert world.treaty.get("/api/v1/usage/total/?facility=US-VA-001").json()["flop"] == 0


def test_the_same_statements_about_its_own_facility_are_accepted(world):
    """The rule refuses the other operator's facility only: B's statements about DE-FRA-001 go through."""
    body = accepted(
        world, world.op_b, world.location(["nvidia:B000000"], facility="DE-FRA-001", operator="op-b"), world.key_b
    )
    assert body["flags"] == {}
    assert Placement.objects.get(chip__serial="B000000", valid_to__isnull=True).facility.code == "DE-FRA-001"


def test_facility_not_operated_comes_after_the_key_checks(world):
    """Step 5's order: a key of the speaker must have signed (key_not_authorized) before the facility is
    judged, so a caller learns nothing about a facility from a statement it could not have made."""
    statement = world.location(["nvidia:A000000"], facility="US-VA-001", operator="op-b")
    response, _ = world.submit(world.op_b, statement, world.key_a)  # A's key, B speaking
    refused(response, 403, "key_not_authorized")


@pytest.mark.parametrize("kind", ["location", "usage"])
def test_a_refusal_does_not_tell_whether_another_operators_facility_exists(world, kind):
    """B, with its own valid key, names A's facility and a code nobody registered: the two answers are one
    answer (status, code and detail but for the code itself), so B cannot enumerate A's facilities, and
    nothing is stored either way. (Before, the second was 400 unknown_facility.)"""

    def statement(code):
        if kind == "location":
            return world.location(["nvidia:B000000"], facility=code, operator="op-b")
        end = now() - timedelta(minutes=5)
        row = {"chip": "nvidia:B000000", "active_s": 60, "utilization": 1, "energy_j": 1e4}
        return world.usage([row], end - timedelta(hours=1), end, facility=code, operator="op-b")

    before = state()
    answers = [world.submit(world.op_b, statement(code), world.key_b)[0] for code in ("US-VA-001", "US-ZZ-404")]
    for response in answers:
        refused(response, 403, "facility_not_operated")
    a, nobody = (r.json() for r in answers)
    assert a["detail"].replace("US-VA-001", "X") == nobody["detail"].replace("US-ZZ-404", "X")
    assert "op-a" not in answers[0].content.decode()
    assert state() == before


def _rtt(facility, landmark="lm-fra"):
    return {
        "v": 1,
        "kind": "rtt",
        "landmark": landmark,
        "facility": facility,
        "chip": "nvidia:B000000",
        "issued_at": ts(now()),
        "nonce": ind.nonce(),
        "measured_at": ts(now() - timedelta(minutes=1)),
        "rtt_ms": 80,
    }


def _landmark(world):
    key = ed25519.Ed25519PrivateKey.generate()
    world.register(world.treaty, key, purpose="landmark")
    response = world.treaty.post(
        "/api/v1/landmarks/", {"code": "lm-fra", "name": "Frankfurt", "latitude": 50.1, "longitude": 8.7}
    )
    assert response.status_code == 201, response.content
    return key


@pytest.mark.parametrize("landmark", ["lm-fra", "lm-nowhere"])
def test_an_operator_cannot_probe_facility_codes_with_an_rtt_statement(world, landmark):
    """(Review of session 12.) op-b signs, with its own key, an `rtt` statement (which no operator may make)
    naming A's facility and a code nobody registered: one answer, key_not_authorized, for both. The rtt branch
    said unknown_facility before the key checks: the oracle closed for location and usage was open by
    switching `kind`."""
    if landmark == "lm-fra":
        _landmark(world)
    answers = [world.submit(world.op_b, _rtt(code, landmark), world.key_b)[0] for code in ("US-VA-001", "US-ZZ-404")]
    for response in answers:
        refused(response, 403, "key_not_authorized")
    assert not Attestation.objects.exists()


def test_the_landmarks_treaty_body_learns_a_facility_code_does_not_exist(world):
    key = _landmark(world)
    response, _ = world.submit(world.treaty, _rtt("US-ZZ-404"), key)
    refused(response, 400, "unknown_facility")


@pytest.mark.parametrize("kind", ["location", "usage"])
def test_naming_another_operator_as_the_speaker_learns_nothing_of_facilities(world, kind):
    """op-b names op-a as the speaker (signed with op-b's key), about A's facility and a code nobody registered:
    key_not_authorized both times (the speaker's keys are checked before the facility)."""
    for code in ("US-VA-001", "US-ZZ-404"):
        if kind == "location":
            statement = world.location(["nvidia:B000000"], facility=code, operator="op-a")
        else:
            end = now() - timedelta(minutes=5)
            row = {"chip": "nvidia:B000000", "active_s": 60, "utilization": 1, "energy_j": 1e4}
            statement = world.usage([row], end - timedelta(hours=1), end, facility=code, operator="op-a")
        response, _ = world.submit(world.op_b, statement, world.key_b)
        refused(response, 403, "key_not_authorized")


def test_the_operator_check_adds_no_query_on_the_hot_path(world, django_assert_max_num_queries):
    """The facility's operator comes with the one read of the registry's rows that verify() makes."""
    statement = world.location(["nvidia:A000000"], facility="US-VA-001", operator="op-b")
    raw = json.dumps(ind.envelope(statement, world.key_b)).encode()
    with django_assert_max_num_queries(1), pytest.raises(ProtocolError) as err:
        checks.verify(raw, world.p.users["op_b"])
    assert err.value.code == "facility_not_operated"


# --- item 2: flags are computed from the speaker's own data ----------------------------------------------


def _b_lists(world, chips, when):
    statement = world.location(chips, facility="DE-FRA-001", operator="op-b", observed=when, issued=when)
    return accepted(world, world.op_b, statement, world.key_b)


@pytest.mark.parametrize("a_saw_it", ["just now", "an hour before", "never"])
def test_location_flags_do_not_reveal_where_the_custodian_saw_its_chip(world, a_saw_it):
    """B lists A's chip at B's facility. Whether A saw it in Virginia at the same instant (two places),
    an hour before (no journey from Virginia to Frankfurt is that fast) or never, B learns the same:
    registered to another party."""
    t = now() - timedelta(minutes=30)
    if a_saw_it != "never":
        seen = t if a_saw_it == "just now" else t - timedelta(hours=1)
        accepted(world, world.op_a, world.location(["nvidia:A000000"], observed=seen, issued=seen))
    body = _b_lists(world, ["nvidia:A000000", "nvidia:NOTREGISTERED9"], t)
    assert body["flags"] == {"other_operator": 1, "unknown_chip": 1}
    # Nor can B read anything about A's chip afterwards: the findings B sees are about its own statement's
    # unknown chip only.
    seen_by_b = world.op_b.get("/api/v1/findings/").json()["results"]
    assert [(f["kind"], f["chip"]) for f in seen_by_b] == [("unknown_chip", "nvidia:NOTREGISTERED9")]
    # The full findings go to A (the chip's custodian), the inspectorates of both places, the treaty body.
    about_a = AnyFinding.objects.filter(chip_ref="nvidia:A000000", source="attestation", source_id=str(body["id"]))
    expected = {"other_operator"} | (
        {"two_places"} if a_saw_it == "just now" else {"impossible_travel"} if a_saw_it == "an hour before" else set()
    )
    assert set(about_a.values_list("kind", flat=True)) == expected
    assert {f.organisation.code for f in about_a} == {"op-a"}
    assert {(f.facility.code, f.evidence["speaker"]) for f in about_a} == {("DE-FRA-001", "op-b")}
    a_reads = {f["kind"] for f in world.op_a.get("/api/v1/findings/?source=attestation").json()["results"]}
    assert expected <= a_reads
    treaty_reads = {f["id"] for f in world.treaty.get("/api/v1/findings/").json()["results"]}
    assert set(about_a.values_list("pk", flat=True)) <= treaty_reads
    # The inspectorates of both places read them (the chip is in the US, the claim was made in Germany).
    if a_saw_it != "never":
        insp_us = world.api(world.p.users["insp_us"]).get(f"/api/v1/findings/?source_id={body['id']}").json()
        assert {f["kind"] for f in insp_us["results"]} == expected
    # B's sighting vouches for B's chips only: A's chip's continuity is A's to keep.
    if a_saw_it == "never":
        assert Chip.objects.get(serial="A000000").last_verified_at is None


def test_each_custodian_gets_its_own_alert(world):
    """B lists chips of two other operators: each custodian is alerted about its own chip, neither about the
    other's, and B (which learnt only 'registered to another party') about neither."""
    from compliance.finding_alerts import raise_for

    c = OrganisationFactory(code="op-c", kind="operator", country="FR")
    register_chips(chip_rows("C", 1), UserFactory(organisation=c, role="admin"))
    body = _b_lists(world, ["nvidia:A000000", "nvidia:C000000"], now() - timedelta(minutes=1))
    assert body["flags"] == {"other_operator": 2}
    raise_for("attestation", str(body["id"]))  # as the outbox's task does (idempotent)
    alerts = Alert.objects.filter(group__startswith=f"other_operator:attestation:{body['id']}")
    assert sorted(alerts.values_list("operator__code", "facility__code", "value")) == [
        ("op-a", "DE-FRA-001", 1),
        ("op-c", "DE-FRA-001", 1),
    ]
    assert {r["operator"] for r in world.op_a.get("/api/v1/alerts/").json()["results"]} <= {"op-a"}
    assert world.op_b.get("/api/v1/alerts/").json()["results"] == []
    raise_for("attestation", str(body["id"]))
    assert alerts.count() == 2


@pytest.mark.parametrize("scope", ["partial", "complete"])
@pytest.mark.parametrize("size", ["node agent", "folded after the commit"])
def test_another_operators_sighting_does_not_verify_the_custodians_chip(
    world, scope, size, django_capture_on_commit_callbacks
):
    """Continuity of knowledge is the custodian's: B listing A's chip (on every path a sighting takes to
    the chips' last verification) leaves it unverified, while B's own chip in the same statement is verified."""
    chips = ["nvidia:A000000", "nvidia:B000000"]
    if size != "node agent":
        chips = padded(chips, size=40_000)  # beyond attestations.kinds.location.FOLD_INLINE_MAX chips
    statement = world.location(chips, facility="DE-FRA-001", operator="op-b", scope=scope)
    with django_capture_on_commit_callbacks(execute=True):
        accepted(world, world.op_b, statement, world.key_b)
    assert Chip.objects.get(serial="A000000").last_verified_at is None
    assert Chip.objects.get(serial="B000000").last_verified_at is not None
    # Nor did B's statement move A's chip.
    assert not Placement.objects.filter(chip__serial="A000000").exists()


@pytest.mark.parametrize("a_active", [0.0, 3600.0], ids=["A-idle", "A-busy"])
def test_usage_flags_do_not_reveal_the_custodians_usage(world, a_active):
    """B reports usage of A's chips at B's facility: whatever A reported for the same hour (nothing, or
    every second of it, at A's own facility), and whatever A's chip's power limit, B learns the same."""
    end = now() - timedelta(minutes=5)
    start = end - timedelta(hours=1)
    a_row = {"chip": "nvidia:A000002", "active_s": a_active, "utilization": 0.5, "energy_j": a_active * 500}
    accepted(world, world.op_a, world.usage([a_row], start, end))
    b_rows = [
        # Every second of the hour (beyond the clock if A was busy too) and 5 MJ (beyond an H100's 700 W).
        {"chip": "nvidia:A000002", "active_s": 3600, "utilization": 0.9, "energy_j": 5e6},
        {"chip": "nvidia:A000003", "active_s": 3600, "utilization": 0.9, "energy_j": 5e6},
    ]
    body = accepted(
        world, world.op_b, world.usage(b_rows, start, end, facility="DE-FRA-001", operator="op-b"), world.key_b
    )
    assert body["flags"] == {"other_operator": 2}
    assert world.op_b.get("/api/v1/findings/").json()["results"] == []
    kinds = set(
        AnyFinding.objects.filter(chip_ref="nvidia:A000002", source_id=str(body["id"])).values_list("kind", flat=True)
    )
    # Stored whole for those entitled: two places (A reported the same hour at its own facility), implausible
    # usage (beyond the power limit of A's model; beyond the clock too when A was busy: one finding a kind).
    assert kinds == {"other_operator", "two_places", "implausible_usage"}
    assert set(
        AnyFinding.objects.filter(source_id=str(body["id"]), source="attestation").values_list(
            "organisation__code", flat=True
        )
    ) == {"op-a"}


def test_usage_records_do_not_reveal_the_custodians_chip_model(world):
    """B's usage records of chips A holds carry a compute bound from the public catalogue (the
    manufacturer's fastest model), not from the model A registered: two of A's chips of different models
    reported alike read alike."""
    register_chips(chip_rows("AA", 1, model="nvidia-a100-sxm4-80gb"), world.p.users["op_a_admin"])
    end = now() - timedelta(minutes=5)
    start = end - timedelta(hours=1)
    rows = [
        {"chip": chip, "active_s": 3600, "utilization": 0.5, "energy_j": 1e6}
        for chip in ("nvidia:AA000000", "nvidia:A000004")  # an A100 and an H100
    ]
    body = accepted(
        world, world.op_b, world.usage(rows, start, end, facility="DE-FRA-001", operator="op-b"), world.key_b
    )
    read = world.op_b.get("/api/v1/usage/?facility=DE-FRA-001").json()["results"]
    flops = {r["chip"]: r["flop"] for r in read if r["statement"] == body["id"]}
    assert flops["nvidia:AA000000"] == flops["nvidia:A000004"] > 0
    # Its own chips still count on their own model.
    own = accepted(
        world,
        world.op_b,
        world.usage([{**rows[0], "chip": "nvidia:B000000"}], start, end, facility="DE-FRA-001", operator="op-b"),
        world.key_b,
    )
    record = UsageRecord.objects.get(attestation_id=own["id"])
    assert record.flop_fp16 == pytest.approx(989e12 * 3600 * 0.5)


def test_anothers_chip_energy_is_judged_by_its_makers_highest_limit_not_its_model(world):
    """A client written from the spec, 2026-12-07: B reporting 430 W on A's A100 (400 W) raised implausible_usage
    and its alert, on A's H100 (700 W) nothing: counting the log's entries after its statement, B read A's chip
    model. Another party's chip is judged against its maker's highest power limit, as its compute is bounded;
    the speaker's own chips against their own model's."""
    register_chips(chip_rows("AB", 1, model="nvidia-a100-sxm4-80gb"), world.p.users["op_a_admin"])
    register_chips(chip_rows("BA", 1, model="nvidia-a100-sxm4-80gb"), world.p.users["op_b"])
    end = now() - timedelta(minutes=5)
    start = end - timedelta(hours=1)

    def reported(chip, watts):
        rows = [{"chip": chip, "active_s": 3600, "utilization": 0.5, "energy_j": watts * 3600}]
        body = accepted(
            world, world.op_b, world.usage(rows, start, end, facility="DE-FRA-001", operator="op-b"), world.key_b
        )
        return set(AnyFinding.objects.filter(source_id=str(body["id"])).values_list("kind", flat=True))

    # A's A100 and H100 alike at 430 W: no implausible_usage for either (only B's other_operator).
    assert reported("nvidia:AB000000", 430) == reported("nvidia:A000005", 430) == {"other_operator"}
    # Beyond any of the maker's chips (1,200 W at most, with the tolerance): judged, for A's A100 too.
    assert "implausible_usage" in reported("nvidia:AB000000", 1300)
    # B's own A100 at 430 W: beyond its own 400 W.
    assert "implausible_usage" in reported("nvidia:BA000000", 430)


# --- item 8: a key signs only within its life --------------------------------------------------------------


def test_a_retired_key_cannot_sign_a_statement_backdated_into_its_life(world):
    keyid = ind.keyid(world.key_a)
    assert world.op_a.post(f"/api/v1/keys/{keyid}/retire/", {}).status_code == 200
    before = state()
    backdated = now() - timedelta(hours=1)
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"], issued=backdated))
    refused(response, 403, "revoked_key")
    assert state() == before


def test_a_revoked_key_cannot_sign_a_statement_backdated_before_the_compromise(world):
    keyid = ind.keyid(world.key_a)
    since = now() - timedelta(minutes=10)
    assert world.op_a.post(f"/api/v1/keys/{keyid}/revoke/", {"since": ts(since)}).status_code == 200
    backdated = since - timedelta(hours=1)
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"], issued=backdated))
    refused(response, 403, "revoked_key")


def test_revocation_flags_what_was_received_after_the_compromise_whatever_its_date(world):
    """A statement accepted before the revocation was recorded, received after the compromise but dated
    before it, is flagged for review like one dated after it."""
    backdated = accepted(world, world.op_a, world.location(["nvidia:A000000"], issued=now() - timedelta(hours=2)))
    since = now() - timedelta(hours=1)
    keyid = ind.keyid(world.key_a)
    response = world.op_a.post(f"/api/v1/keys/{keyid}/revoke/", {"since": ts(since)})
    assert response.status_code == 200 and response.json()["flagged_statements"] == 1, response.content
    assert Attestation.objects.get(pk=backdated["id"]).flagged
    assert AnyFinding.objects.filter(kind="revoked_key", source_id=str(backdated["id"])).exists()


def test_a_key_retired_in_the_future_still_signs_until_then(world):
    keyid = ind.keyid(world.key_a)
    assert world.op_a.post(f"/api/v1/keys/{keyid}/retire/", {"at": ts(now() + timedelta(days=1))}).status_code == 200
    accepted(world, world.op_a, world.location(["nvidia:A000000"]))


def test_a_scheduled_retirement_is_brought_forward_never_put_back(world):
    """A client written from the README, 2026-12-07: a member's retirement scheduled for a later date made every
    later retirement 409 `already_retired`, so the key kept signing until then (only revoke/ was left). An earlier
    instant now retires it sooner (a second `key.retired`, naming the instant it replaces); a later one, or the
    same, stays 409."""
    keyid = ind.keyid(world.key_a)
    url = f"/api/v1/keys/{keyid}/retire/"
    assert world.op_a.post(url, {"at": ts(now() + timedelta(days=30))}).status_code == 200
    for later in (now() + timedelta(days=31), now() + timedelta(days=30)):
        response = world.op_a.post(url, {"at": ts(later)})
        assert (response.status_code, response.json()["code"]) == (409, "already_retired"), response.content
    assert world.op_a.post(url, {}).status_code == 200
    retired = SigningKey.objects.get(keyid=keyid).retired_at
    assert retired < now() + timedelta(seconds=1)
    events = LogEventData.objects.filter(event="key.retired", object_id__endswith=keyid).order_by("index")
    assert len(events) == 2 and "scheduled_for" in events[1].data_jcs
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"]), world.key_a)
    refused(response, 403, "revoked_key")
    assert (world.op_a.post(url, {}).status_code, SigningKey.objects.get(keyid=keyid).retired_at) == (409, retired)


def test_a_key_cannot_be_registered_valid_from_the_past(world):
    key = ed25519.Ed25519PrivateKey.generate()
    events = LogEventData.objects.count()
    response = world.op_a.post(
        "/api/v1/keys/", {"public_key": ind.public_pem(key), "valid_from": ts(now() - timedelta(days=1))}
    )
    assert response.status_code == 400 and response.json()["code"] == "backdated_key", response.content
    assert not SigningKey.objects.filter(keyid=ind.keyid(key)).exists()
    assert LogEventData.objects.count() == events


def test_a_new_key_does_not_vouch_for_statements_dated_before_it(world):
    key = ed25519.Ed25519PrivateKey.generate()
    response = world.op_a.post("/api/v1/keys/", {"public_key": ind.public_pem(key)})
    assert response.status_code == 201, response.content
    registered = SigningKey.objects.get(keyid=ind.keyid(key))
    assert registered.valid_from >= registered.created_at.replace(microsecond=0)
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"], issued=now() - timedelta(minutes=2)), key)
    refused(response, 403, "revoked_key")
    # Signed now, it verifies; valid from a later instant is allowed too.
    accepted(world, world.op_a, world.location(["nvidia:A000001"]), key)
    later = ed25519.Ed25519PrivateKey.generate()
    response = world.op_a.post(
        "/api/v1/keys/", {"public_key": ind.public_pem(later), "valid_from": ts(now() + timedelta(hours=1))}
    )
    assert response.status_code == 201, response.content
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000002"]), later)
    refused(response, 403, "revoked_key")


# --- robustness: every number bounded at ingest ---------------------------------------------------------


def _usage_bytes(world, energy_text, active_text="3600", period_s=3600):
    """A usage statement's exact bytes with the numbers as written (so NaN, Infinity and 1e999 can be sent)."""
    end = now() - timedelta(minutes=5)
    start = end - timedelta(seconds=period_s)
    statement = world.usage([{"chip": "nvidia:A000000", "active_s": 0, "utilization": 0.5, "energy_j": 0}], start, end)
    text = ind.canonical(statement).decode()
    text = text.replace('"active_s":0', f'"active_s":{active_text}').replace(
        '"energy_j":0', f'"energy_j":{energy_text}'
    )
    return text.encode()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    energy=st.one_of(
        st.sampled_from(
            ["1.7e308", "1e300", "1e20", "NaN", "Infinity", "-Infinity", "1e999", "-1", "9007199254740993"]
        ),
        st.floats(min_value=MAX_CHIP_POWER_W * 3600 * (1 + 1e-9), allow_infinity=False).map(repr),
    ),
)
def test_usage_numbers_beyond_the_hardware_are_malformed(world, energy):
    before = state()
    response, _ = world.submit(world.op_a, None, body=_usage_bytes(world, energy))
    refused(response, 400, "malformed_statement")
    assert state() == before
    total = world.op_a.get("/api/v1/usage/total/?facility=US-VA-001")
    assert total.status_code == 200, total.content


@pytest.mark.parametrize("active", ["3601", "1e308"])
def test_active_seconds_beyond_the_period_are_malformed(world, active):
    response, _ = world.submit(world.op_a, None, body=_usage_bytes(world, "0", active_text=active))
    refused(response, 400, "malformed_statement")


def test_the_largest_numbers_accepted_still_sum(world):
    """At the bounds, a facility's totals stay finite and answer 200, however many statements."""
    end = now() - timedelta(minutes=5)
    start = end - timedelta(days=31)
    period = (end - start).total_seconds()
    rows = [
        {"chip": f"nvidia:A00000{i}", "active_s": period, "utilization": 1, "energy_j": MAX_CHIP_POWER_W * period}
        for i in range(10)
    ]
    for _ in range(3):
        accepted(world, world.op_a, world.usage(rows, start, end))
    for basis in ("fp16", "peak"):
        total = world.op_a.get(f"/api/v1/usage/total/?facility=US-VA-001&basis={basis}")
        assert total.status_code == 200, total.content
        assert all(math.isfinite(v) for k, v in total.json().items() if k != "basis")
    assert world.op_a.get("/api/v1/usage/?facility=US-VA-001").status_code == 200


def test_rtt_beyond_a_minute_is_malformed():
    statement = (
        '{"v":1,"kind":"rtt","landmark":"lm-1","facility":"F-1","chip":"nvidia:A000000",'
        '"issued_at":"2026-11-26T05:42:13Z","nonce":"' + "a" * 32 + '",'
        '"measured_at":"2026-11-26T05:42:13Z","rtt_ms":%s}'
    )
    assert parse_statement((statement % MAX_RTT_MS).encode()).rtt_ms == MAX_RTT_MS
    for bad in ("1.7e308", "60000.5", "0", "-1"):
        with pytest.raises(ProtocolError) as err:
            parse_statement((statement % bad).encode())
        assert err.value.code == "malformed_statement"
