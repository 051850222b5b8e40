"""attestations.storage's hand-written statements answer and write as their ORM equivalents do.

Each statement runs, and its ORM equivalent (its specification, spelled here)
runs, on the same rows: a write is run in a transaction that is rolled back
after its effect is read (`outcome`), so both start from the same state.
"""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F, Q

from attestations import daily, findings
from attestations.models import (
    AnyUsageRecord,
    Attestation,
    ChiplessSighting,
    Sighting,
    SigningKey,
    StatementNonce,
    UsageDay,
)
from attestations.storage import chips as chip_rows
from attestations.storage import ingest, usage_days
from inventory.models import Facility, Placement
from registry.models import Chip, ChipEvent, Organisation
from tests.attestations.conftest import now
from transparency.log import current_size


class _Undo(Exception):
    pass


def outcome(write, read, *args):
    """(what `write(*args)` returns, what `read()` finds after it), the write then rolled back."""
    try:
        with transaction.atomic():
            result = write(*args)
            state = read()
            raise _Undo
    except _Undo:
        pass
    return result, state


def fields(obj):
    return {f.attname: _plain(getattr(obj, f.attname)) for f in obj._meta.concrete_fields}


def _plain(value):
    return bytes(value) if isinstance(value, memoryview) else value


# --- reading the registry's rows for the checks -------------------------------------------------------


def test_keys_by_id(world):
    keyids = [*SigningKey.objects.values_list("keyid", flat=True), "f" * 64]
    hand = ingest.registered(keyids, None, None).keys
    orm = SigningKey.objects.in_bulk(keyids, field_name="keyid")
    assert len(hand) == 2 and hand.keys() == orm.keys()
    assert all(fields(hand[k]) == fields(orm[k]) for k in hand)


@pytest.mark.parametrize(
    "facility,operator",
    [("US-VA-001", "op-a"), ("US-VA-001", "op-b"), ("US-VA-001", "nvidia"), ("NOWHERE", "op-a"), ("DE-FRA-001", "x")],
)
def test_facility_and_operator(world, facility, operator):
    known = ingest.registered([], facility, operator)
    hand_facility, hand_speaker = known.facility, known.speaker
    orm_facility = Facility.objects.select_related("operator").filter(code=facility).first()
    orm_speaker = Organisation.objects.filter(code=operator, kind="operator").first()
    assert (hand_facility is None) == (orm_facility is None)
    if orm_facility is not None:
        assert fields(hand_facility) == fields(orm_facility)
        assert fields(hand_facility.operator) == fields(orm_facility.operator)
        assert known.clusters == dict(orm_facility.clusters.values_list("code", "pk"))
    assert (hand_speaker is None) == (orm_speaker is None)
    if orm_speaker is not None:
        assert fields(hand_speaker) == fields(orm_speaker)  # "nvidia" is a manufacturer, not a speaker


@pytest.mark.parametrize("facility,operator", [("US-VA-001", "op-a"), ("DE-FRA-001", "op-b"), ("NOWHERE", "op-a")])
def test_registered_reads_keys_facility_and_speaker_at_once(world, facility, operator):
    keyids = [*SigningKey.objects.values_list("keyid", flat=True), "f" * 64]
    known = ingest.registered(keyids, facility, operator)
    keys = SigningKey.objects.in_bulk(keyids, field_name="keyid")
    assert known.keys.keys() == keys.keys() and all(fields(known.keys[k]) == fields(keys[k]) for k in keys)
    alone = ingest.registered([], facility, operator)
    assert (known.facility is None) == (alone.facility is None)
    if alone.facility is not None:
        assert fields(known.facility) == fields(alone.facility)
        assert fields(known.facility.operator) == fields(alone.facility.operator)
        assert known.clusters == alone.clusters
    assert fields(known.speaker) == fields(alone.speaker)
    assert known.clusters or facility != "US-VA-001"  # US-VA-001 has two clusters


def test_registered_without_keys(world):
    known = ingest.registered(["0" * 64], "US-VA-001", "op-a")
    assert known.keys == {} and known.facility.code == "US-VA-001" and len(known.clusters) == 2


# --- storing a statement ------------------------------------------------------------------------------

CHIPS = [
    ("nvidia:A000000", "c-east-1"),
    ("nvidia:A000001", None),
    ("nvidia:NOTREGISTERED", None),
    ("acme:A000002", "c-east-2"),  # no such manufacturer
    ("nvidia:B000001", ""),  # op-b's chip
    ("nvidia:A000003", "c-east-2"),
]


@pytest.fixture
def stored(world):
    """A stored statement of op-a, whose row the tests copy (its envelope, keys, facility, uploader)."""
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"]))
    assert response.status_code == 201, response.content
    return Attestation.objects.get(pk=response.json()["id"])


def _copy(att, nonce, log_index=None):
    """A new statement row like `att` (same envelope, keys, facility, header): its own nonce and digest."""
    values = {f.attname: getattr(att, f.attname) for f in Attestation._meta.concrete_fields if f.attname != "id"}
    values.update(nonce=nonce, statement_sha256=(nonce * 64)[:64], log_index=log_index)
    return Attestation(**values)


def _statement_rows(att_id):
    """The statement's row (but its id), its nonces and its sightings (in id order: those of registered chips,
    then the chipless ones, chip None), as the ORM reads them."""
    row = fields(Attestation.objects.get(pk=att_id))
    del row["id"]
    nonces = sorted(StatementNonce.objects.filter(attestation_id=att_id).values_list("keyid", "nonce"))
    columns = ("chip_ref", "cluster_code", "facility_id", "observed_at")
    sightings = list(Sighting.objects.filter(attestation_id=att_id).order_by("id").values_list("chip_id", *columns)) + [
        (None, *r) for r in ChiplessSighting.objects.filter(attestation_id=att_id).order_by("id").values_list(*columns)
    ]
    return row, nonces, sightings


def _orm_insert(att):
    received_at = att.received_at  # the checks' clock, which the row keeps (auto_now_add would take now)
    att.save(force_insert=True)
    Attestation.objects.filter(pk=att.pk).update(received_at=received_at)
    StatementNonce.objects.bulk_create([StatementNonce(keyid=k, nonce=att.nonce, attestation=att) for k in att.keyids])
    return att.pk


def _orm_resolve(chip_ids):
    """inventory.chiprefs.resolve_chips's rule in the ORM: manufacturer code, a colon, the serial."""
    found = {}
    for ref in chip_ids:
        maker, _, serial = ref.partition(":")
        row = (
            Chip.objects.filter(manufacturer__code=maker, manufacturer__kind="manufacturer", serial=serial)
            .values_list("pk", "custodian_id", "status", "country")
            .first()
        )
        if row is not None:
            found[ref] = row
    return found


def _orm_sightings(att, chips, found):
    """A sighting per chip, in a ChiplessSighting where the registry knows no such chip."""
    rows = [
        (ref, {"attestation": att, "chip_ref": ref, "cluster_code": cluster or "", "facility_id": att.facility_id})
        for ref, cluster in chips
    ]
    Sighting.objects.bulk_create(
        [Sighting(chip_id=found[ref][0], observed_at=att.observed_at, **r) for ref, r in rows if ref in found]
    )
    ChiplessSighting.objects.bulk_create(
        [ChiplessSighting(observed_at=att.observed_at, **r) for ref, r in rows if ref not in found]
    )


def test_insert_attestation_writes_the_rows_the_orm_writes(stored):
    body = bytes(stored.envelope)

    def hand():
        att = _copy(stored, "h")
        ingest.insert_attestation(att, body)
        return _statement_rows(att.pk)

    def orm():
        return _statement_rows(_orm_insert(_copy(stored, "h")))

    hand_rows, orm_rows = outcome(hand, lambda: None)[0], outcome(orm, lambda: None)[0]
    assert hand_rows == orm_rows and hand_rows[1]  # the same row, its nonces
    assert hand_rows[0]["envelope"] == body


def test_insert_attestation_refuses_a_replay_as_the_orm_does(stored):
    body = bytes(stored.envelope)
    for insert in (lambda att: ingest.insert_attestation(att, body), _orm_insert):
        with pytest.raises(IntegrityError), transaction.atomic():
            insert(_copy(stored, stored.nonce))  # the same (keyid, nonce) as the stored statement


def test_insert_location_writes_and_resolves_as_the_orm_does(stored):
    body = bytes(stored.envelope)

    def hand():
        att = _copy(stored, "l")
        located = ingest.insert_location(att, body, CHIPS)
        assert located.mark == current_size() and located.mark > 0  # the log's size, read with the chips
        return located.found, _statement_rows(att.pk)

    def orm():
        att = _copy(stored, "l")
        _orm_insert(att)
        found = _orm_resolve([ref for ref, _ in CHIPS])
        _orm_sightings(att, CHIPS, found)
        return found, _statement_rows(att.pk)

    (hand_found, hand_rows), _ = outcome(hand, lambda: None)
    (orm_found, orm_rows), _ = outcome(orm, lambda: None)
    assert hand_found == orm_found and set(hand_found) == {
        "nvidia:A000000",
        "nvidia:A000001",
        "nvidia:A000003",
        "nvidia:B000001",
    }
    assert hand_rows == orm_rows and len(hand_rows[2]) == len(CHIPS)
    unknown = {"nvidia:NOTREGISTERED", "acme:A000002"}
    assert {r[1] for r in hand_rows[2] if r[0] is None} == unknown  # the chipless ones


def test_copy_sightings_writes_the_rows_the_orm_writes(stored):
    found = _orm_resolve([ref for ref, _ in CHIPS])
    read = lambda: _statement_rows(stored.pk)[2]  # noqa: E731
    rows = [(found[ref][0] if ref in found else None, ref, cluster) for ref, cluster in CHIPS]
    hand = outcome(lambda: ingest.copy_sightings(stored.pk, stored.facility_id, stored.observed_at, iter(rows)), read)
    orm = outcome(lambda: _orm_sightings(stored, CHIPS, found), read)
    assert hand[1] == orm[1] and len(hand[1]) == 1 + len(CHIPS) and hand[0] == len(CHIPS)


def test_set_log_index_as_the_orm_does(stored):
    read = lambda: fields(Attestation.objects.get(pk=stored.pk))  # noqa: E731
    hand = outcome(lambda: ingest.set_log_index(stored.pk, 12345), read)
    orm = outcome(lambda: Attestation.objects.filter(pk=stored.pk).update(log_index=12345) and None, read)
    assert hand == orm and hand[1]["log_index"] == 12345


# --- after the log's append ---------------------------------------------------------------------------


def _orm_elsewhere(chunk, facility, attestation_id, when, window):
    """findings._elsewhere's specification: other statements' sightings and placements elsewhere, at the chip's
    custodian's own sites, the sightings by the custodian or a landmark (no operator)."""
    at_custodians = F("chip__custodian_id")
    others = (
        Sighting.objects.filter(chip_id__in=chunk, observed_at__range=(when - window, when + window))
        .filter(facility__operator_id=at_custodians)
        .filter(Q(attestation__operator__isnull=True) | Q(attestation__operator_id=at_custodians))
        .exclude(facility=facility)
        .exclude(attestation_id=attestation_id)
        .values_list("chip_id", "facility__latitude", "facility__longitude", "observed_at")
    )
    placed = (
        Placement.objects.filter(chip_id__in=chunk, valid_from__range=(when - window, when + window))
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=when))
        .filter(facility__operator_id=at_custodians)
        .exclude(facility=facility)
        .values_list("chip_id", "facility__latitude", "facility__longitude", "valid_from")
    )
    return sorted([*others, *placed])


def _orm_open_rows(chip_pks, when):
    """inventory.storage.open_placements's specification."""
    rows = Placement.objects.filter(chip_id__in=chip_pks, valid_to__isnull=True).values_list(
        "id", "chip_id", "facility_id", "cluster_id", "valid_from"
    )
    return sorted((pk, chip, fac, clu, since > when) for pk, chip, fac, clu, since in rows)


@pytest.fixture
def travelled(world):
    """Three chips seen in California half an hour before `t` and in Virginia three hours before (both
    placing them), op-b's chip seen in Frankfurt: sightings and placements elsewhere to find."""
    t = now() - timedelta(hours=1)
    chips = ["nvidia:A000000", "nvidia:A000001", "nvidia:A000002"]
    for facility, observed in (("US-CA-001", t - timedelta(minutes=30)), ("US-VA-001", t - timedelta(hours=3))):
        statement = world.location(chips, facility=facility, observed=observed, issued=observed)
        response, _ = world.submit(world.op_a, statement)
        assert response.status_code == 201, response.content
    # op-b lists op-a's chip too: another party's word, at a site not its holder's, is no place it was.
    response, _ = world.submit(
        world.op_b,
        world.location(["nvidia:B000001", "nvidia:A000000"], facility="DE-FRA-001", operator="op-b"),
        world.key_b,
    )
    assert response.status_code == 201, response.content
    return t


def test_seen_elsewhere(world, travelled):
    """Sightings and placements of other facilities near a time, as the ORM finds them."""
    t = travelled
    va = Facility.objects.get(code="US-VA-001")
    latest = Attestation.objects.filter(facility=va).order_by("-id").first()
    chunk = [
        info[0]
        for info in _orm_resolve(["nvidia:A000000", "nvidia:A000001", "nvidia:A000002", "nvidia:B000001"]).values()
    ]
    for window in (timedelta(hours=20), timedelta(minutes=10)):
        hand = findings._elsewhere(chunk, va, latest.pk, t, window)
        assert sorted(tuple(r) for r in hand) == _orm_elsewhere(chunk, va, latest.pk, t, window)
    found = findings._elsewhere(chunk, va, latest.pk, t, timedelta(hours=20))
    assert len(found) >= 3
    frankfurt = Facility.objects.get(code="DE-FRA-001")
    assert Sighting.objects.filter(facility=frankfurt, chip_id=chunk[0]).exists()
    assert (frankfurt.latitude, frankfurt.longitude) not in {(r[1], r[2]) for r in found if r[0] == chunk[0]}


def test_after_append_stores_moves_and_reads_as_the_orm_does(world, stored, travelled):
    """The node agent's second round trip: its row with its log index, its own chips' last verification
    (NULL, stale, fresh: only the first two move), the rows elsewhere and the open placements."""
    t = travelled
    body = bytes(stored.envelope)
    refs = [ref for ref, _ in CHIPS]
    found = _orm_resolve(refs)
    pks = [info[0] for info in found.values()]
    own = [info[0] for info in found.values() if info[1] == world.p.op_a.pk]
    Chip.objects.filter(serial="A000001").update(last_verified_at=t - timedelta(hours=2))  # stale
    Chip.objects.filter(serial="A000003").update(last_verified_at=t - timedelta(seconds=30))  # fresh
    Chip.objects.filter(serial="B000001").update(last_verified_at=None)  # op-b's: not verified by op-a
    window, stale_before = timedelta(hours=20), t - timedelta(minutes=1)
    # History logged between the statement's resolution (mark 4200) and its own entry (4242): a custody change of
    # A000000 counts, and a status change of B000001; a model change of A000001 does not, nor a custody change
    # of A000003 logged before the mark or one at the statement's own entry.
    a0, a1, a3, b1 = (found[f"nvidia:{serial}"][0] for serial in ("A000000", "A000001", "A000003", "B000001"))
    for chip, kind, index in ((a0, "custody", 4200), (b1, "status", 4241), (a1, "model", 4210), (a3, "custody", 4199)):
        ChipEvent.objects.create(chip_id=chip, kind=kind, before={}, after={}, log_index=index)
    ChipEvent.objects.create(chip_id=a3, kind="status", before={}, after={}, log_index=4242)

    def read(att_id):
        return (
            _statement_rows(att_id),
            sorted(Chip.objects.filter(pk__in=pks).values_list("pk", "last_verified_at")),
        )

    def hand():
        att = _copy(stored, "a")
        att.observed_at = t
        ingest.insert_location(att, body, CHIPS, with_row=False)
        assert not Attestation.objects.filter(pk=att.pk).exists()  # the row waits for its log index
        att.log_index = 4242
        holder = world.p.op_a.pk
        elsewhere, open_rows, changed, stale_keys = ingest.after_append(
            att, body, stored.facility_id, t, window, pks, holder, stale_before, 4200, (stored.keyids, t, t)
        )
        assert not stale_keys  # its key is valid (test_after_append_reads_the_keys_as_the_orm_does)
        return sorted(tuple(r) for r in elsewhere), sorted(open_rows), att.pk, read(att.pk), changed

    def orm():
        att = _copy(stored, "a", log_index=4242)
        att.observed_at = t
        _orm_insert(att)
        _orm_sightings(att, CHIPS, found)
        Chip.objects.filter(pk__in=own).filter(
            Q(last_verified_at__isnull=True) | Q(last_verified_at__lt=stale_before)
        ).update(last_verified_at=t)
        elsewhere = _orm_elsewhere(pks, stored.facility, att.pk, t, window)
        changed = set(
            ChipEvent.objects.filter(
                chip_id__in=pks, kind__in=["custody", "status"], log_index__gte=4200, log_index__lt=4242
            ).values_list("chip_id", flat=True)
        )
        return elsewhere, _orm_open_rows(pks, t), att.pk, read(att.pk), changed

    (h_elsewhere, h_open, _, h_state, h_changed), _ = outcome(hand, lambda: None)
    (o_elsewhere, o_open, _, o_state, o_changed), _ = outcome(orm, lambda: None)
    assert h_changed == o_changed == {a0, b1}
    assert h_elsewhere == o_elsewhere and len(h_elsewhere) >= 3
    assert h_open == o_open and h_open
    assert h_state == o_state
    verified = dict(h_state[1])
    assert verified[found["nvidia:A000001"][0]] == t and verified[found["nvidia:A000003"][0]] == t - timedelta(
        seconds=30
    )
    assert verified[found["nvidia:B000001"][0]] is None


def test_after_append_reads_the_keys_as_the_orm_does(world, stored):
    """Source 4 of the node agent's second round trip: whether a key of the statement is not valid now at its
    issued_at or its receipt (a revocation or retirement committed since its checks), as checks._check_validity
    judges a key: not valid at either instant (SigningKey.objects.valid_at)."""
    key = SigningKey.objects.get(keyid=stored.keyids[0])
    t = now()

    def orm(earliest, latest):
        keys = SigningKey.objects.filter(keyid__in=stored.keyids)
        return keys.count() > keys.valid_at(earliest).valid_at(latest).count()

    def hand(earliest, latest):
        with transaction.atomic():  # the statement's rows, and nothing of them afterwards
            att = _copy(stored, "k")
            ingest.insert_location(att, bytes(stored.envelope), CHIPS[:1], with_row=False)
            att.log_index = current_size()
            keys = (stored.keyids, earliest, latest)
            envelope, facility, op_a = bytes(stored.envelope), stored.facility_id, world.p.op_a.pk
            stale = ingest.after_append(att, envelope, facility, t, timedelta(hours=1), [], op_a, t, 0, keys)[3]
            transaction.set_rollback(True)
        return stale

    cases = [
        {},
        {"revoked_since": t},  # at the latest instant: revoked
        {"revoked_since": t + timedelta(seconds=1)},
        {"retired_at": t - timedelta(minutes=1)},
        {"retired_at": t + timedelta(seconds=1)},
        {"valid_from": t - timedelta(seconds=30)},  # after the earliest instant: not yet valid then
    ]
    for change in cases:
        SigningKey.objects.filter(pk=key.pk).update(
            **{"revoked_since": None, "retired_at": None, "valid_from": key.valid_from, **change}
        )
        for earliest, latest in ((t - timedelta(minutes=1), t), (t, t)):
            assert hand(earliest, latest) == orm(earliest, latest), (change, earliest, latest)
    assert orm(t - timedelta(minutes=1), t)  # the last case is stale, the first was not


# --- chips' last verification: the one write of registry_chip -----------------------------------------


def _last_verified():
    return sorted(Chip.objects.values_list("pk", "last_verified_at"))


def _orm_fold(sightings, pks):
    """The fold's specification: each chip's latest sighting by its custodian (or a landmark's)."""
    moved = 0
    for pk in pks:
        latest = (
            sightings.filter(chip_id=pk)
            .filter(Q(attestation__operator__isnull=True) | Q(attestation__operator_id=F("chip__custodian_id")))
            .order_by("-observed_at")
            .values_list("observed_at", flat=True)
            .first()
        )
        if latest is not None:
            moved += (
                Chip.objects.filter(pk=pk)
                .filter(Q(last_verified_at__isnull=True) | Q(last_verified_at__lt=latest))
                .update(last_verified_at=latest)
            )
    return moved


@pytest.fixture
def sighted(world, travelled):
    """Chips with sightings by their custodian and by another operator (op-b listing op-a's chip)."""
    response, _ = world.submit(
        world.op_b,
        world.location(["nvidia:A000004", "nvidia:B000002"], facility="DE-FRA-001", operator="op-b"),
        world.key_b,
    )
    assert response.status_code == 201, response.content
    Chip.objects.update(last_verified_at=None)
    Chip.objects.filter(serial="A000001").update(last_verified_at=travelled)  # later than its sightings
    return travelled


def test_refresh_at_a_time_as_the_orm_does(world, sighted):
    t = sighted
    pks = list(Chip.objects.filter(serial__in=["A000000", "A000001", "A000005"]).values_list("pk", flat=True))
    Chip.objects.filter(serial="A000005").update(last_verified_at=t - timedelta(seconds=10))
    for when, stale_before in ((t, t - timedelta(minutes=1)), (t + timedelta(hours=1), t + timedelta(hours=1))):
        hand = outcome(
            lambda w, s: chip_rows.refresh_last_verified(chip_rows.seen_at(pks, w, s)),
            _last_verified,
            when,
            stale_before,
        )
        orm = outcome(
            lambda w, s: (
                Chip.objects.filter(pk__in=pks)
                .filter(Q(last_verified_at__isnull=True) | Q(last_verified_at__lt=s))
                .update(last_verified_at=w)
            ),
            _last_verified,
            when,
            stale_before,
        )
        assert hand == orm
    assert outcome(lambda: chip_rows.refresh_last_verified(chip_rows.seen_at([], t, t)), _last_verified)[0] == 0


def test_fold_of_a_statement_as_the_orm_does(world, sighted):
    for att in Attestation.objects.filter(kind="location"):
        sightings = Sighting.objects.filter(attestation=att)
        pks = {pk for pk in sightings.values_list("chip_id", flat=True) if pk is not None}
        hand = outcome(
            lambda a: chip_rows.refresh_last_verified(chip_rows.seen_in_statement(a)), _last_verified, att.pk
        )
        orm = outcome(_orm_fold, _last_verified, sightings, pks)
        assert hand == orm


def test_fold_of_chips_since_as_the_orm_does(world, sighted):
    t = sighted
    pks = list(Chip.objects.values_list("pk", flat=True))
    for since in (t - timedelta(days=1), t - timedelta(minutes=45), t + timedelta(days=1)):
        hand = outcome(lambda s: chip_rows.refresh_last_verified(chip_rows.seen_since(pks, s)), _last_verified, since)
        orm = outcome(_orm_fold, _last_verified, Sighting.objects.filter(observed_at__gte=since), pks)
        assert hand == orm
    moved = outcome(
        lambda: chip_rows.refresh_last_verified(chip_rows.seen_since(pks, t - timedelta(days=1))), _last_verified
    )[0]
    assert moved >= 3  # op-a's chips seen by op-a; never op-a's A000004 for op-b's listing


def test_the_one_writer_composes_into_a_round_trip(world):
    """The CTE form is the same UPDATE, named, with its parameters: nothing runs."""
    sql, params = chip_rows.refresh_last_verified(chip_rows.seen_at([1, 2], now(), now()), cte="verified")
    assert sql.startswith("verified AS (UPDATE registry_chip ") and params["seen_chips"] == "{1,2}"


# --- daily usage totals -------------------------------------------------------------------------------


def _days():
    return sorted(
        UsageDay.objects.values_list("facility_id", "day", "operator_id", "uploaded_by_org_id", *usage_days.TOTALS)
    )


def _orm_add_days(att):
    """daily.add_statement's specification: each record (bound to a chip or not) to the UTC day its period
    starts and ends."""
    for u in AnyUsageRecord.objects.filter(attestation=att).select_related("attestation"):
        for day, ended in ((u.period_start.date(), False), (u.period_end.date(), True)):
            row, _ = UsageDay.objects.get_or_create(
                facility_id=u.facility_id,
                day=day,
                operator_id=u.attestation.operator_id,
                uploaded_by_org_id=u.attestation.uploaded_by_org_id,
            )
            if ended:
                row.ended_flop_fp16 += u.flop_fp16 or 0
                row.ended_flop_peak += u.flop_peak or 0
            else:
                row.records += 1
                row.flop_fp16 += u.flop_fp16 or 0
                row.flop_peak += u.flop_peak or 0
                row.active_s += u.active_s
                row.energy_j += u.energy_j
            row.save()


def test_daily_totals_as_the_orm_folds_them(world):
    midnight = now().replace(hour=0, minute=0, second=0) - timedelta(days=3)
    rows = [
        {"chip": "nvidia:A000002", "active_s": 3600, "utilization": 0.5, "energy_j": 1e6},
        {"chip": "nvidia:A000003", "active_s": 1800, "utilization": 0.9, "energy_j": 2e6},
        {"chip": "nvidia:NOTREGISTERED", "active_s": 60, "utilization": 0.1, "energy_j": 1e3},
    ]
    for start in (midnight - timedelta(hours=1), midnight + timedelta(hours=5)):  # across a UTC midnight, within a day
        response, _ = world.submit(world.op_a, world.usage(rows, start, start + timedelta(hours=2)))
        assert response.status_code == 201, response.content
    first, second = Attestation.objects.filter(kind="usage").order_by("id")
    UsageDay.objects.all().delete()
    daily.add_statement(first)  # a row to add to (ON CONFLICT), one to create
    for att in (first, second):
        hand = outcome(daily.add_statement, _days, att)
        orm = outcome(_orm_add_days, _days, att)
        assert [r[:4] for r in hand[1]] == [r[:4] for r in orm[1]]
        for h, o in zip(hand[1], orm[1], strict=True):
            assert h[4:] == pytest.approx(o[4:])
    assert len(outcome(daily.add_statement, _days, second)[1]) == 2  # the day before the midnight, and that day


# --- the node agent's round trips ---------------------------------------------------------------------


def test_a_node_agents_statement_costs_its_round_trips_and_no_more(world, monkeypatch):
    """Token, registry rows, log append (in its savepoint), and the two statements of storage.ingest that
    bind the envelope as a binary parameter (row, nonces, chips and sightings; row with its log index,
    last verification and the reads after the append): seven round trips, as before issue #16."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    raw = []
    fetchall = ingest._raw_fetchall
    monkeypatch.setattr(ingest, "_raw_fetchall", lambda sql, params: raw.append(sql) or fetchall(sql, params))
    chips = [f"nvidia:A00000{i}" for i in range(8)]
    world.submit(world.op_a, world.location(chips))  # the log's head row exists from here on
    for _ in range(2):
        raw.clear()
        with CaptureQueriesContext(connection) as django_queries:
            response, _ = world.submit(world.op_a, world.location(chips))
        assert response.status_code == 201, response.content
        assert len(django_queries.captured_queries) == 5, [q["sql"][:80] for q in django_queries.captured_queries]
        assert len(raw) == 2 and "UPDATE registry_chip" in raw[1]  # the last verification moves in the second
