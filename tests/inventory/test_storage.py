"""inventory.storage's statements answer and write as their ORM equivalents do, on the same rows."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from inventory import storage
from inventory.chiprefs import parse_listing
from inventory.models import ChiplessDeclarationItem, Cluster, Declaration, DeclarationItem, Facility, Placement
from inventory.services.listings import record_declaration
from inventory.services.placements import PLACEABLE
from registry.models import Chip
from registry.registration import register_chips
from tests.factories import chip_rows


def fields(obj, *skip):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname not in skip}


@pytest.fixture
def site(parties):
    user = parties.users["op_a_admin"]
    facilities = []
    for n, code in enumerate(("IS-1", "IS-2")):
        fac = Facility.objects.create(
            code=code, name=code, operator=user.organisation, country="US", latitude=10 + 5 * n, longitude=10
        )
        for cluster in ("k1", "k2"):
            Cluster.objects.create(facility=fac, code=cluster)
        facilities.append(fac)
    register_chips(chip_rows("IS", 8), user)
    ids = [f"nvidia:IS{i:06d}" for i in range(8)]
    when = timezone.now() - timedelta(days=1)
    # Chips 0-3 in IS-1 (k1, k1, k2, none); 4-5 in IS-2; 6-7 nowhere.
    record_declaration(
        user,
        facilities[0],
        when,
        parse_listing(
            [
                {"chip": ids[0], "cluster": "k1"},
                {"chip": ids[1], "cluster": "k1"},
                {"chip": ids[2], "cluster": "k2"},
                ids[3],
            ],
            100,
        ),
    )
    record_declaration(user, facilities[1], when, parse_listing(ids[4:6], 100))
    chips = {c.serial: c.pk for c in Chip.objects.filter(serial__startswith="IS")}
    return {"user": user, "facilities": facilities, "when": when, "chips": [chips[f"IS{i:06d}"] for i in range(8)]}


def test_chips_of_maker(site, parties):
    serials = ["IS000000", "IS000003", "IS000007", "NOTREGISTERED"]
    orm = Chip.objects.filter(manufacturer=parties.nvidia, serial__in=serials).values_list(
        "pk", "serial", "custodian_id", "status", "country"
    )
    assert sorted(storage.chips_of_maker("nvidia", serials)) == sorted(orm) and len(orm) == 3
    assert storage.chips_of_maker("amd", serials) == []
    assert storage.chips_of_maker("op-a", serials) == []  # an operator's code is no manufacturer's


@pytest.mark.parametrize("offset", [timedelta(hours=-2), timedelta(days=-3)])
def test_open_placements(site, offset):
    when = site["when"] + offset
    pks = site["chips"]
    orm = Placement.objects.filter(chip_id__in=pks, valid_to__isnull=True).values_list(
        "id", "chip_id", "facility_id", "cluster_id", "valid_from"
    )
    expected = sorted((pk, chip, fac, clu, since > when) for pk, chip, fac, clu, since in orm)
    assert sorted(storage.open_placements(pks, when)) == expected and len(expected) == 6


@pytest.mark.parametrize("offset", [timedelta(hours=-2), timedelta(days=-3)])
def test_placements_to_move(site, offset):
    """The chips not open in the facility and cluster they are listed in, with their open placement as the ORM
    reads it, in the listing's order; the chips open where listed do not come back."""
    when = site["when"] + offset
    fac = site["facilities"][0]
    k1, k2 = (Cluster.objects.get(facility=fac, code=c).pk for c in ("k1", "k2"))
    # Chip 0 where it is (k1), 1 in another cluster, 2 without one, 3 where it is (none), 4 from IS-2, 6 new.
    pairs = [(site["chips"][i], cluster) for i, cluster in ((6, k1), (0, k1), (1, k2), (2, None), (3, None), (4, k2))]
    open_rows = {
        chip: (pk, facility, since > when)
        for pk, chip, facility, since in Placement.objects.filter(valid_to__isnull=True).values_list(
            "id", "chip_id", "facility_id", "valid_from"
        )
    }
    expected = [(chip, cluster, *open_rows.get(chip, (None, None, None))) for chip, cluster in pairs]
    expected = [row for row in expected if row[0] not in (site["chips"][0], site["chips"][3])]
    assert storage.placements_to_move(pairs, fac.pk, when) == expected and len(expected) == 4


@pytest.mark.parametrize("holder", [False, True])
def test_place_new(site, parties, holder):
    """placements_to_move's rows for the chips open elsewhere or in another cluster; the chips with no open
    placement written as bulk_create writes them, in the pairs' order; the placed chips lying in another country
    named; with a holder, another party's chip or one at a status that cannot be placed left alone."""
    when = site["when"] + timedelta(hours=2)
    fac = site["facilities"][0]
    k1, k2 = (Cluster.objects.get(facility=fac, code=c).pk for c in ("k1", "k2"))
    c = site["chips"]
    Chip.objects.filter(pk=c[7]).update(country="DE")
    # Chip 0 where it is (k1), 1 in another cluster, 4 from IS-2, 7 and 6 new (7 lying in DE).
    pairs = [(c[7], k2), (c[0], k1), (c[1], k2), (c[4], None), (c[6], k1)]
    expected_moves = storage.placements_to_move(pairs, fac.pk, when)
    if holder:
        Chip.objects.filter(pk=c[6]).update(status="lost")
        Chip.objects.filter(pk=c[4]).update(custodian=parties.op_b)
        expected_moves = [row for row in expected_moves if row[0] not in (c[4], c[6])]
    before = set(Placement.objects.values_list("pk", flat=True))
    to_move, recountry, placed = storage.place_new(
        pairs, fac.pk, "US", when, "attestation", 99, 12, parties.op_a.pk if holder else None, PLACEABLE
    )
    expected_moves = [row for row in expected_moves if row[2] is not None]  # the new ones are placed, not returned
    assert to_move == expected_moves and {row[0] for row in to_move} == ({c[1]} if holder else {c[1], c[4]})
    new = list(Placement.objects.exclude(pk__in=before).order_by("pk"))
    placed_chips = [c[7]] if holder else [c[7], c[6]]
    assert [p.chip_id for p in new] == placed_chips and placed == len(placed_chips)
    assert recountry == [c[7]]
    written = {p.chip_id: fields(p, "id") for p in new}
    Placement.objects.filter(pk__in=[p.pk for p in new]).delete()
    clusters = dict(pairs)
    Placement.objects.bulk_create(
        [
            Placement(
                chip_id=chip,
                facility=fac,
                cluster_id=clusters[chip],
                valid_from=when,
                source="attestation",
                source_id="99",
                log_index=12,
            )
            for chip in placed_chips
        ]
    )
    created = {p.chip_id: fields(p, "id") for p in Placement.objects.exclude(pk__in=before)}
    assert written == created


def test_close_placements(site):
    """Each placement closes at its own time, as a save() of each would close it; the others stay open."""
    when = timezone.now()
    first = list(Placement.objects.filter(chip_id__in=site["chips"][:3]).order_by("pk").values_list("pk", flat=True))
    times = [when, when + timedelta(minutes=5), when]
    storage.close_placements(first, times)
    assert dict(Placement.objects.filter(pk__in=first).values_list("pk", "valid_to")) == dict(
        zip(first, times, strict=True)
    )
    assert Placement.objects.filter(valid_to__isnull=True).count() == 3


def test_close_open_placements_of(site):
    pks = site["chips"][3:7]  # one in IS-1, two in IS-2, one nowhere
    when = timezone.now()
    open_rows = Placement.objects.filter(chip_id__in=pks, valid_to__isnull=True, valid_from__lte=when)
    facilities = set(open_rows.values_list("facility_id", flat=True))
    closing = set(open_rows.values_list("pk", flat=True))
    assert storage.close_open_placements_of(pks, when) == facilities == {f.pk for f in site["facilities"]}
    assert set(Placement.objects.filter(valid_to=when).values_list("pk", flat=True)) == closing
    # A placement that starts after `when` stays open.
    assert storage.close_open_placements_of(site["chips"][:1], site["when"] - timedelta(days=1)) == set()


def test_copy_placements_writes_what_bulk_create_writes(site):
    fac = site["facilities"][1]
    k1 = Cluster.objects.get(facility=fac, code="k1")
    when = timezone.now().replace(microsecond=654321)
    later = when + timedelta(hours=1, microseconds=7)
    a, b, c = site["chips"][6], site["chips"][7], site["chips"][5]
    rows = [(a, k1.pk, when), (b, None, later), (c, k1.pk, when)]
    Placement.objects.filter(chip_id=c).delete()
    assert storage.copy_placements(rows, fac.pk, "transfer", 42, 5) == 3
    copied = {p.chip_id: p for p in Placement.objects.filter(chip_id__in=[a, b, c])}
    Placement.objects.filter(pk__in=[p.pk for p in copied.values()]).delete()
    Placement.objects.bulk_create(
        [
            Placement(
                chip_id=chip,
                facility=fac,
                cluster_id=cluster,
                valid_from=at,
                source="transfer",
                source_id="42",
                log_index=5,
            )
            for chip, cluster, at in rows
        ]
    )
    created = {p.chip_id: p for p in Placement.objects.filter(chip_id__in=[a, b, c])}
    assert {c: fields(p, "id") for c, p in copied.items()} == {c: fields(p, "id") for c, p in created.items()}
    assert created[b].valid_from == later


def test_copy_listing_items_writes_what_bulk_create_writes(site):
    declaration = Declaration.objects.create(
        facility=site["facilities"][0], as_of=site["when"], declared_by=site["user"], chip_count=3
    )
    k2 = Cluster.objects.get(facility=site["facilities"][0], code="k2")
    values = [
        (declaration.pk, site["chips"][0], "nvidia:IS000000", k2.pk),
        (declaration.pk, None, "nvidia:NOPE\t\\", None),  # escaped, whatever the caller sends
        (declaration.pk, site["chips"][1], "nvidia:IS000001", None),
    ]
    assert storage.copy_listing_items(DeclarationItem, ChiplessDeclarationItem, "declaration", values) == 3
    copied = _listed(declaration)
    # The reference no chip has is a chipless item; the two tables share one id sequence, in the order written.
    known = list(DeclarationItem.objects.filter(declaration=declaration).values_list("id", flat=True))
    (unknown,) = ChiplessDeclarationItem.objects.filter(declaration=declaration).values_list("id", flat=True)
    assert len(known) == 2 and max(known) < unknown
    for model in (DeclarationItem, ChiplessDeclarationItem):
        model.objects.filter(declaration=declaration).delete()
    DeclarationItem.objects.bulk_create(
        [DeclarationItem(declaration_id=p, chip_id=c, chip_ref=r, cluster_id=cl) for p, c, r, cl in values if c]
    )
    ChiplessDeclarationItem.objects.bulk_create(
        [ChiplessDeclarationItem(declaration_id=p, chip_ref=r, cluster_id=cl) for p, c, r, cl in values if not c]
    )
    assert copied == _listed(declaration) == sorted(values, key=_by_ref)


def _listed(declaration):
    """(declaration, chip or None, chip ref, cluster) of both tables' items, by chip ref."""
    known = DeclarationItem.objects.filter(declaration=declaration).values_list(
        "declaration_id", "chip_id", "chip_ref", "cluster_id"
    )
    unknown = ChiplessDeclarationItem.objects.filter(declaration=declaration).values_list(
        "declaration_id", "chip_ref", "cluster_id"
    )
    return sorted([*known, *((p, None, r, cl) for p, r, cl in unknown)], key=_by_ref)


def _by_ref(item):
    return item[2]


def test_wrong_clusters(site):
    fac = site["facilities"][0]
    k1, k2 = (Cluster.objects.get(facility=fac, code=c) for c in ("k1", "k2"))
    declaration = Declaration.objects.create(facility=fac, as_of=site["when"], declared_by=site["user"], chip_count=4)
    chips = site["chips"]
    listed = [(chips[0], "nvidia:IS000000", k1.pk), (chips[1], "nvidia:IS000001", k2.pk)]
    listed += [(chips[2], "nvidia:IS000002", None), (chips[3], "nvidia:IS000003", k1.pk)]
    DeclarationItem.objects.bulk_create(
        [DeclarationItem(declaration=declaration, chip_id=c, chip_ref=r, cluster_id=cl) for c, r, cl in listed]
    )
    items = DeclarationItem.objects.filter(declaration=declaration)
    book = Placement.objects.filter(facility=fac, valid_to__isnull=True)
    on_book = dict(book.values_list("chip_id", "cluster_id"))
    expected = [
        (c, r, cl, on_book[c])
        for c, r, cl in sorted(listed, key=lambda x: x[1])
        if cl is not None and c in on_book and on_book[c] != cl
    ]
    assert storage.wrong_clusters(items, book) == expected
    assert [e[1] for e in expected] == ["nvidia:IS000001", "nvidia:IS000003"]


def _setting(name):
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def test_without_nested_loops_is_local_to_the_block(db):
    assert _setting("enable_nestloop") == "on"
    with storage.without_nested_loops():
        assert _setting("enable_nestloop") == "off"
    assert _setting("enable_nestloop") == "on"


def test_campus_lock_is_held_until_the_transaction_ends(db):
    def advisory_locks():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            return cursor.fetchone()[0]

    before = advisory_locks()
    with transaction.atomic():
        storage.lock_campuses()
        assert advisory_locks() == before + 1
