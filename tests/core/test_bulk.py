"""core.bulk.insert_rows writes what the ORM's bulk_create writes, on the same rows."""

from core.bulk import insert_rows
from inventory.models import ChiplessFinding
from registry.models import Organisation

FIELDS = ("kind", "chip_ref", "organisation_id", "country", "detail", "evidence", "resolution", "resolved_at")


def _rows(org, prefix):
    return [
        ChiplessFinding(
            kind="unknown_chip",
            chip_ref=f"x:{i}",
            organisation=org if i % 2 else None,
            country="US",
            source="attestation",
            source_id=f"{prefix}-{i}",
            detail='a "quoted"\\tdetail é {braces}' if i == 0 else "",
            evidence={"statement": i, "nested": {"list": [1, "two", None]}, "text": 'q"\\\\'},
        )
        for i in range(3)
    ]


def _stored(prefix):
    return list(
        ChiplessFinding.objects.filter(source_id__startswith=f"{prefix}-").order_by("source_id").values_list(*FIELDS)
    )


def test_insert_rows_writes_what_bulk_create_writes(db):
    """Defaults, auto_now_add, foreign keys, JSON (nested, quotes, non-ASCII), NULLs."""
    org = Organisation.objects.create(code="bulk-org", name="Bulk", kind="operator", country="US")
    assert insert_rows(ChiplessFinding, _rows(org, "u")) == 3
    ChiplessFinding.objects.bulk_create(_rows(org, "o"))
    assert _stored("u") == _stored("o")
    assert all(f.detected_at is not None for f in ChiplessFinding.objects.filter(source_id__startswith="u-"))


def test_insert_rows_skips_conflicts_only_when_asked(db):
    org = Organisation.objects.create(code="bulk-org", name="Bulk", kind="operator", country="US")
    insert_rows(ChiplessFinding, _rows(org, "u"))
    assert insert_rows(ChiplessFinding, _rows(org, "u"), ignore_conflicts=True) == 0
    assert insert_rows(ChiplessFinding, [], ignore_conflicts=True) == 0
    assert ChiplessFinding.objects.filter(source_id__startswith="u-").count() == 3
