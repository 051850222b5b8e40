"""registry.storage's statements answer and write as their ORM equivalents do, on the same rows;
registry.chip_writes records history as registry.records does for one chip.

(token_by_digest against select_related: tests/registry/test_tokens.py.)
"""

import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.lookups import array_param
from registry import chip_writes, storage
from registry.models import AcceleratorModel, Chip, ChipEvent, ChipIdentity, RegistrationBatch
from registry.registration import register_chips, validate_rows
from tests.factories import chip_rows


def fields(obj, *skip):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname not in skip}


@pytest.fixture
def chips(parties):
    register_chips(chip_rows("ST", 6), parties.users["op_a_admin"])
    return list(Chip.objects.filter(serial__startswith="ST").order_by("serial"))


def _batch(user):
    return RegistrationBatch.objects.create(organisation=user.organisation, user=user, submitted=0, created=0)


def test_open_batch_writes_the_batch_and_probes_the_identities(chips, parties):
    user = parties.users["op_a_admin"]
    nvidia = parties.nvidia.pk
    for first, last in (
        ((nvidia, "ST000000"), (nvidia, "NOPE")),
        ((nvidia, "NOPE"), (nvidia, "ST000005")),
        ((nvidia, "NOPE"), (nvidia, "NOPE2")),
        ((parties.amd.pk, "ST000000"), (parties.amd.pk, "ST000001")),
    ):
        orm = ChipIdentity.objects.filter(
            Q(manufacturer_id=first[0], serial=first[1]) | Q(manufacturer_id=last[0], serial=last[1])
        )
        batch_id, at = uuid.uuid4(), timezone.now()
        top = Chip.objects.order_by("-pk").values_list("pk", flat=True).first()
        floor, registered = storage.open_batch(batch_id, user.organisation_id, user.pk, at, 6, first, last)
        assert registered == orm.exists()
        assert floor > top  # above every chip's id (and below the next one's: test_copy_new_chips...)
        batch = RegistrationBatch.objects.get(pk=batch_id)
        assert (batch.organisation_id, batch.user_id, batch.at, batch.submitted, batch.created, batch.log_index) == (
            user.organisation_id,
            user.pk,
            at,
            6,
            0,
            None,
        )


def test_copy_new_chips_writes_what_the_orm_writes(parties):
    user = parties.users["op_a_admin"]
    org = user.organisation
    rows = validate_rows(
        [
            {"chip": "nvidia:CP000000", "model": "nvidia-h100-sxm5-80gb"},
            {"chip": "nvidia:CP000001", "model": "nvidia-h100-sxm5-80gb", "uuid": "GPU-1", "status": "manufactured"},
            {"chip": "nvidia:CP000002", "model": "nvidia-h200-sxm-141gb", "board_part_number": "b\tp\\n"},
        ],
        org,
    )
    now = timezone.now().replace(microsecond=123456)
    batch = _batch(user)
    floor, _ = storage.open_batch(uuid.uuid4(), org.id, user.pk, now, 3, rows[0][1:3], rows[-1][1:3])
    orm_batch = _batch(user)
    # Chips of another batch written between the probe and the copy (ids above the floor): not this copy's.
    for _, m, serial, model, u, b, f, status in rows:
        Chip.objects.create(
            manufacturer_id=m,
            serial="ORM" + serial,
            model_id=model,
            uuid=u or "",
            board_part_number=b or "",
            attestation_key_fingerprint=f or "",
            status=status,
            custodian_id=org.id,
            registered_by_id=org.id,
            country=org.country,
            batch=orm_batch,
        )
    storage.copy_new_chips(rows, org.id, org.country, batch.id, now, floor)
    for _, _, serial, *_ in rows:
        copied, created = Chip.objects.get(serial=serial), Chip.objects.get(serial="ORM" + serial)
        assert copied.created_at == copied.updated_at == now
        assert copied.batch_id == batch.id and created.batch_id == orm_batch.id
        skip = ("id", "serial", "batch_id", "created_at", "updated_at")
        assert fields(copied, *skip) == fields(created, *skip)
    # Each copied chip has its identity, and only they: the others are another batch's.
    copied = Chip.objects.filter(batch=batch)
    assert all(pk > floor for pk in copied.values_list("pk", flat=True))
    assert set(
        ChipIdentity.objects.filter(serial__contains="CP").values_list("manufacturer_id", "serial", "chip_id")
    ) == set(copied.values_list("manufacturer_id", "serial", "pk"))
    # A second copy of a registered chip meets the identity's key (the database's: any batch, any floor).
    with pytest.raises(storage.SerialTaken), transaction.atomic():
        storage.copy_new_chips(rows[:1], org.id, org.country, _batch(user).id, now, 0)


def test_insert_comparing_tells_new_and_conflicts_as_the_orm_sees_them(chips, parties):
    user = parties.users["op_a_admin"]
    org = user.organisation
    items = [
        {"chip": "nvidia:ST000000", "model": "nvidia-h100-sxm5-80gb"},  # the same
        {"chip": "nvidia:ST000001", "model": "nvidia-h200-sxm-141gb"},  # model differs
        {"chip": "nvidia:ST000002", "model": "nvidia-h100-sxm5-80gb", "uuid": "GPU-x"},  # uuid differs
        {"chip": "nvidia:NEW0000", "model": "nvidia-h100-sxm5-80gb"},  # new
    ]
    rows = validate_rows(items, org)
    before = {c.serial: c for c in Chip.objects.filter(serial__startswith="ST")}
    new, conflicts = storage.insert_chips_comparing(rows, org.id, org.country, _batch(user).id, timezone.now(), 20)
    assert new == [(parties.nvidia.pk, "NEW0000")]
    assert Chip.objects.filter(serial="NEW0000", custodian=org, model__slug="nvidia-h100-sxm5-80gb").exists()
    assert ChipIdentity.objects.get(serial="NEW0000").chip_id == Chip.objects.get(serial="NEW0000").pk
    assert ChipIdentity.objects.filter(serial__startswith="ST").count() == 6  # the registered ones: no new claim
    # The ORM's comparison of each row with the stored chip.
    expected = []
    for row, _, serial, model, u, b, f, _ in rows:
        chip = before.get(serial)
        if chip is None:
            continue
        flags = (
            chip.model_id != model,
            chip.custodian_id != org.id,
            u is not None and u != chip.uuid,
            b is not None and b != chip.board_part_number,
            f is not None and f != chip.attestation_key_fingerprint,
        )
        if any(flags):
            expected.append((row, "nvidia", serial, *flags))
    assert conflicts == expected and len(expected) == 2
    # Another party's registration of op-a's chips: the custodian differs.
    other = parties.users["op_b"]
    _, theirs = storage.insert_chips_comparing(
        rows[:1], other.organisation.id, "DE", _batch(other).id, timezone.now(), 20
    )
    assert theirs == [(1, "nvidia", "ST000000", False, True, False, False, False)]


def _orm_state(column):
    return dict(Chip.objects.filter(serial__startswith="ST").values_list("pk", column))


def test_set_country_returns_what_changed(chips, parties):
    pks = [c.pk for c in chips[:4]]
    Chip.objects.filter(pk=pks[0]).update(country="FR")
    Chip.objects.filter(pk=pks[1]).update(country="DE")
    before = dict(Chip.objects.filter(pk__in=pks).values_list("pk", "country"))
    expected = Counter((c.custodian_id, before[c.pk]) for c in Chip.objects.filter(pk__in=pks).exclude(country="DE"))
    assert {(custodian, was): n for custodian, was, n in storage.set_country(pks, "DE")} == expected
    after = _orm_state("country")
    assert all(after[pk] == "DE" for pk in pks) and after[chips[4].pk] == "US"
    assert chip_writes.set_country(pks, "DE") == set()
    assert chip_writes.set_country(pks[:1], "FR") == {f"{parties.op_a.pk}:DE", f"{parties.op_a.pk}:FR"}


def test_set_status_with_history(chips, parties):
    user = parties.users["op_a_admin"]
    pks = [c.pk for c in chips[:3]]
    Chip.objects.filter(pk=pks[0]).update(status="decommissioned")
    before = _orm_state("status")
    changed = chip_writes.set_status(pks, "in_transit", actor=user, reason="shipped", log_index=7)
    assert changed == {pk: before[pk] for pk in pks}
    after = _orm_state("status")
    assert [after[pk] for pk in pks] == ["in_transit"] * 3 and after[chips[3].pk] == "installed"
    events = list(ChipEvent.objects.filter(chip_id__in=pks).order_by("chip_id"))
    assert [
        (e.chip_id, e.kind, e.before, e.after, e.log_index, e.actor_id, e.actor_organisation_id) for e in events
    ] == [
        (pk, "status", {"status": before[pk]}, {"status": "in_transit"}, 7, user.pk, user.organisation_id) for pk in pks
    ]
    # Nothing changes the second time: no row, no history.
    assert chip_writes.set_status(pks, "in_transit", actor=user, reason="again", log_index=8) == {}
    assert ChipEvent.objects.filter(chip_id__in=pks).count() == 3


def test_set_custody_with_history(chips, parties):
    receiver = parties.users["op_b"]
    pks = [c.pk for c in chips[:2]]
    keys = chip_writes.set_custody(pks, receiver.organisation, "DE", actor=receiver, reason="received", log_index=9)
    assert keys == {f"{parties.op_a.pk}:US", f"{parties.op_b.pk}:DE"}
    moved = Chip.objects.filter(pk__in=pks)
    assert {(c.custodian_id, c.country) for c in moved} == {(parties.op_b.pk, "DE")}
    assert Chip.objects.get(pk=chips[2].pk).custodian_id == parties.op_a.pk
    events = ChipEvent.objects.filter(chip_id__in=pks, kind="custody")
    assert sorted((e.chip_id, e.before, e.after, e.log_index) for e in events) == [
        (pk, {"custodian": "op-a"}, {"custodian": "op-b"}, 9) for pk in pks
    ]
    # Within one custodian (a move to another country): no custody history.
    chip_writes.set_custody(pks, receiver.organisation, "FR", actor=receiver, reason="moved", log_index=10)
    assert ChipEvent.objects.filter(chip_id__in=pks, kind="custody").count() == 2


def test_set_model_with_history(chips, parties):
    h200 = AcceleratorModel.objects.get(slug="nvidia-h200-sxm-141gb")
    user = parties.users["nvidia"]
    pks = [c.pk for c in chips[:2]]
    assert chip_writes.set_model(pks, h200, actor=user, reason="relabelled", log_index=3) == {
        pk: "nvidia-h100-sxm5-80gb" for pk in pks
    }
    assert set(Chip.objects.filter(pk__in=pks).values_list("model__slug", flat=True)) == {h200.slug}
    assert ChipEvent.objects.filter(chip_id__in=pks, kind="model", after={"model": h200.slug}).count() == 2
    assert chip_writes.set_model(pks, h200, actor=user, reason="again", log_index=4) == {}


def test_refresh_last_verified_as_the_orm_would(chips):
    now = timezone.now()
    pks = [c.pk for c in chips]
    # NULL, long ago, a little ago, in the future: the first two move, the others stay.
    times = [None, now - timedelta(days=3), now - timedelta(seconds=30), now + timedelta(hours=1)]
    for pk, t in zip(pks, times, strict=False):
        Chip.objects.filter(pk=pk).update(last_verified_at=t)
    resolution = timedelta(minutes=5)
    stale_before = now - resolution
    expected = {
        pk: now if (t is None or t < stale_before) else t
        for pk, t in Chip.objects.filter(pk__in=pks[:4]).values_list("pk", "last_verified_at")
    }
    assert chip_writes.refresh_last_verified(pks[:4], now, resolution) == 2
    assert {pk: t for pk, t in Chip.objects.filter(pk__in=pks[:4]).values_list("pk", "last_verified_at")} == expected
    assert Chip.objects.get(pk=pks[4]).last_verified_at is None


def test_last_verified_composes_into_a_callers_statement(chips):
    """The node-agent path runs the writer inside its own statement: one round trip."""
    now = timezone.now()
    pks = [c.pk for c in chips[:2]]
    sql = chip_writes.last_verified_sql(when="w", chips="ids", stale_before="s")
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH verified AS ({sql} RETURNING id) SELECT count(*) FROM verified",
            {"w": now, "ids": array_param(pks), "s": now},
        )
        assert cursor.fetchone() == (2,)
    assert set(Chip.objects.filter(pk__in=pks).values_list("last_verified_at", flat=True)) == {now}


def test_fold_last_verified_never_moves_back(chips):
    now = timezone.now()
    a, b = chips[0].pk, chips[1].pk
    Chip.objects.filter(pk=b).update(last_verified_at=now)
    sql = chip_writes.fold_last_verified_sql(
        "SELECT * FROM (VALUES (%s::bigint, %s::timestamptz, %s::timestamptz), (%s, %s, %s)) v(chip_id, seen, o)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [a, now - timedelta(hours=1), now - timedelta(hours=1), b, now - timedelta(hours=2), now])
        assert cursor.rowcount == 1
    assert Chip.objects.get(pk=a).last_verified_at == now - timedelta(hours=1)
    assert Chip.objects.get(pk=b).last_verified_at == now


def test_batch_ids_are_uuids():
    """copy_new_chips writes the batch id's 16 bytes: RegistrationBatch keys are UUIDs."""
    assert isinstance(RegistrationBatch._meta.pk.get_default(), uuid.UUID)


def test_set_hardware_verified_as_the_orm_would(chips):
    """Forward only: NULL and older times move to `when`, a later one stays, chips not named stay."""
    now = timezone.now()
    pks = [c.pk for c in chips]
    times = [None, now - timedelta(days=3), now + timedelta(hours=1)]
    for pk, t in zip(pks, times, strict=False):
        Chip.objects.filter(pk=pk).update(hardware_verified_at=t)
    expected = {
        pk: now if (t is None or t < now) else t
        for pk, t in Chip.objects.filter(pk__in=pks[:3]).values_list("pk", "hardware_verified_at")
    }
    assert chip_writes.set_hardware_verified(pks[:3], now) == 2
    assert dict(Chip.objects.filter(pk__in=pks[:3]).values_list("pk", "hardware_verified_at")) == expected
    assert Chip.objects.get(pk=pks[3]).hardware_verified_at is None
    assert chip_writes.set_hardware_verified([], now) == 0


def _proved(chip_pks, when, stale_before):
    """proved_sql's UPDATE run alone: how many rows it changed."""
    sql, params = chip_writes.proved_sql(chip_pks, when, stale_before)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def test_proved_sql_moves_hardware_and_last_verification_forward_as_each_alone_would(chips):
    """Hardware verification as set_hardware_verified moves it; last verification as refresh_last_verified
    (only where older than stale_before, never back); chips not named stay; a no-op touches no row."""
    now = timezone.now()
    stale_before = now - timedelta(minutes=1)
    pks = [c.pk for c in chips][:4]
    setup = [
        (None, None),  # both move
        (now - timedelta(days=3), now - timedelta(seconds=10)),  # hardware moves; last verified is fresh enough
        (now + timedelta(hours=1), now - timedelta(hours=2)),  # hardware is later; last verified moves
        (now + timedelta(hours=1), now - timedelta(seconds=5)),  # nothing moves
    ]
    for pk, (hw, lv) in zip(pks, setup, strict=True):
        Chip.objects.filter(pk=pk).update(hardware_verified_at=hw, last_verified_at=lv)
    assert _proved(pks, now, stale_before) == 3
    got = dict(Chip.objects.filter(pk__in=pks).values_list("pk", "hardware_verified_at"))
    assert [got[pk] for pk in pks] == [now, now, setup[2][0], setup[3][0]]
    got = dict(Chip.objects.filter(pk__in=pks).values_list("pk", "last_verified_at"))
    assert [got[pk] for pk in pks] == [now, setup[1][1], now, setup[3][1]]
    assert _proved([], now, stale_before) == 0


def test_held_answers_as_the_orm_does(chips, parties):
    storage.set_status([chips[0].pk], "lost")
    storage.set_custody([chips[1].pk], parties.op_b.pk, "DE")
    pks = [c.pk for c in chips] + [10**12]  # and a chip that does not exist
    for statuses in (["installed", "manufactured"], ["lost"], []):
        expected = set(
            Chip.objects.filter(pk__in=pks, custodian=parties.op_a, status__in=statuses).values_list("pk", flat=True)
        )
        assert chip_writes.held(pks, parties.op_a.pk, statuses) == expected, statuses
    assert chip_writes.held(pks, parties.op_a.pk, ["installed", "manufactured"]) == {c.pk for c in chips[2:]}
    assert chip_writes.held([], parties.op_a.pk, ["installed"]) == set()


def test_current_and_changed_between_answer_as_the_orm_does(chips, parties):
    """What a statement resolved before the log's lock asks under it: which of its chips changed custody or
    status under the entries logged meanwhile, and how they are now."""
    storage.set_status([chips[0].pk], "lost")
    storage.set_custody([chips[1].pk], parties.op_b.pk, "DE")
    events = [
        (chips[0].pk, "status", 100),  # in the range
        (chips[1].pk, "custody", 104),  # its last entry
        (chips[2].pk, "model", 101),  # not custody or status
        (chips[3].pk, "custody", 99),  # logged before the chips were read
        (chips[4].pk, "status", 105),  # the reader's own entry, or later
        (chips[5].pk, "custody", None),  # no entry at all
    ]
    for pk, kind, index in events:
        ChipEvent.objects.create(chip_id=pk, kind=kind, before={}, after={}, log_index=index)

    def orm(first, end):
        changed = ChipEvent.objects.filter(kind__in=["custody", "status"], log_index__gte=first, log_index__lt=end)
        rows = Chip.objects.filter(pk__in=changed.values("chip_id")).values_list(
            "pk", "custodian_id", "status", "country"
        )
        return {pk: tuple(rest) for pk, *rest in rows}

    for first, end in ((100, 105), (99, 100), (105, 200), (0, 10**9), (100, 100), (101, 100)):
        assert chip_writes.changed_between(first, end) == orm(first, end), (first, end)
    assert set(chip_writes.changed_between(100, 105)) == {chips[0].pk, chips[1].pk}
    assert chip_writes.changed_between(100, 105)[chips[1].pk] == (parties.op_b.pk, "installed", "DE")
    pks = [c.pk for c in chips] + [10**12]
    expected = {
        pk: tuple(rest)
        for pk, *rest in Chip.objects.filter(pk__in=pks).values_list("pk", "custodian_id", "status", "country")
    }
    assert chip_writes.current(pks) == expected and len(expected) == len(chips)
    assert chip_writes.current([]) == {}
    # The same question about some chips only, inside a caller's statement.
    sql = chip_writes.changed_among_sql("a", "b", "k", "c")
    with connection.cursor() as cursor:
        cursor.execute(
            sql, {"a": 100, "b": 105, "k": chip_writes.changed_kinds(), "c": array_param([chips[1].pk, chips[2].pk])}
        )
        assert {pk for (pk,) in cursor.fetchall()} == {chips[1].pk}
