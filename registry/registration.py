"""Bulk chip registration: up to a million rows, all or nothing.

Rows are validated in memory first (every error named by its row), then
written with one set-based statement: on PostgreSQL the rows are COPYed into a
temporary table and inserted with ON CONFLICT DO NOTHING; elsewhere they are
bulk-created in chunks. Re-registering a chip with the same data is a no-op;
with different data it is a 409 naming the chip and the fields that differ.
"""

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.problems import Problem
from outbox import emit
from protocol.serials import CHIP_ID_RE, format_chip_id, normalize_chip_id, normalize_serial, parse_chip_id
from registry.choices import ChipStatus, OrgKind

ROW_FIELDS = {
    "chip",
    "manufacturer",
    "serial",
    "model",
    "uuid",
    "board_part_number",
    "attestation_key_fingerprint",
    "status",
}
OPTIONAL_TEXT = ("uuid", "board_part_number", "attestation_key_fingerprint")
TEXT_LIMITS = {"uuid": 64, "board_part_number": 64, "attestation_key_fingerprint": 128}
MAX_REPORTED_ERRORS = 20
CHUNK = 5000


@dataclass(frozen=True)
class RegistrationResult:
    batch: object  # RegistrationBatch, or None when nothing was new
    submitted: int
    created: int


class RowErrors:
    """Collects the first errors of a batch, each naming its row (1-based)."""

    def __init__(self):
        self.items = []
        self.total = 0

    def add(self, row, field, message):
        self.total += 1
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append({"row": row, "field": field, "message": message})

    def raise_if_any(self):
        if self.total:
            first = self.items[0]
            raise Problem(
                400,
                "invalid_rows",
                f"{self.total} row(s) are invalid; nothing was registered. "
                f"First: row {first['row']}, {first['field']}: {first['message']}",
                errors=self.items,
                error_count=self.total,
            )


def _models_by_slug():
    from registry.models import AcceleratorModel

    return {
        m.slug: (m.id, m.manufacturer_id, m.manufacturer.code)
        for m in AcceleratorModel.objects.select_related("manufacturer")
    }


def _manufacturers():
    from registry.models import Organisation

    return dict(Organisation.objects.filter(kind=OrgKind.MANUFACTURER).values_list("code", "id"))


def validate_rows(items, org):
    """Turn submitted rows into tuples ready to write, or raise naming the bad rows.

    Each tuple: (row, manufacturer_id, serial, model_id, uuid, bpn, fingerprint, status);
    an optional text field the row omitted is None ("not asserted").
    """
    if not isinstance(items, list):
        items = [items]
    if not items:
        raise Problem(400, "empty_batch", "The request names no chips.")
    if len(items) > settings.CHIPREG_BULK_MAX_ROWS:
        raise Problem(
            413,
            "too_many_rows",
            f"At most {settings.CHIPREG_BULK_MAX_ROWS} chips per request; this one has {len(items)}.",
        )
    models = _models_by_slug()
    manufacturers = _manufacturers()
    default_status = ChipStatus.MANUFACTURED if org.kind == OrgKind.MANUFACTURER else ChipStatus.INSTALLED
    statuses = set(ChipStatus.values)
    errors = RowErrors()
    seen = {}
    out = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            errors.add(number, "row", "must be an object")
            continue
        unknown = item.keys() - ROW_FIELDS
        if unknown:
            errors.add(number, sorted(unknown)[0], "unknown field")
            continue
        try:
            if "chip" in item:
                if "manufacturer" in item or "serial" in item:
                    raise ValueError("give either chip or manufacturer and serial, not both")
                if not isinstance(item["chip"], str):
                    raise ValueError("must be a string")
                # Registration accepts any spelling a person might type; the
                # stored (and signed) form is the normalised one. Most rows
                # already are normalised: one regex match decides.
                chip = item["chip"]
                if CHIP_ID_RE.fullmatch(chip):
                    manufacturer_code, _, serial = chip.partition(":")
                else:
                    manufacturer_code, serial = parse_chip_id(normalize_chip_id(chip))
            else:
                manufacturer_code, serial = item.get("manufacturer"), item.get("serial")
                if not isinstance(manufacturer_code, str) or not isinstance(serial, str):
                    raise ValueError("chip (or manufacturer and serial) is required")
                manufacturer_code = manufacturer_code.strip().lower()
                serial = normalize_serial(serial)
        except ValueError as exc:
            errors.add(number, "chip", getattr(exc, "detail", None) or str(exc))
            continue
        manufacturer_id = manufacturers.get(manufacturer_code)
        if manufacturer_id is None:
            errors.add(number, "manufacturer", f"unknown manufacturer {manufacturer_code!r}")
            continue
        if org.kind == OrgKind.MANUFACTURER and manufacturer_id != org.id:
            errors.add(number, "manufacturer", "a manufacturer registers only its own chips")
            continue
        model = models.get(item.get("model")) if isinstance(item.get("model"), str) else None
        if model is None:
            errors.add(number, "model", f"unknown model {item.get('model')!r}; see /api/v1/models/")
            continue
        if model[1] != manufacturer_id:
            errors.add(number, "model", f"{item['model']} is not a {manufacturer_code} model")
            continue
        status = item.get("status", default_status)
        if status not in statuses:
            errors.add(number, "status", f"unknown status {status!r}")
            continue
        texts = []
        bad = False
        for field in OPTIONAL_TEXT:
            value = item.get(field)
            if value is not None and (not isinstance(value, str) or len(value) > TEXT_LIMITS[field]):
                errors.add(number, field, f"must be a string of at most {TEXT_LIMITS[field]} characters")
                bad = True
                break
            texts.append(value.strip() if isinstance(value, str) else None)
        if bad:
            continue
        key = (manufacturer_id, serial)
        if key in seen:
            errors.add(number, "chip", f"duplicate of row {seen[key]} in this batch")
            continue
        seen[key] = number
        out.append((number, manufacturer_id, serial, model[0], *texts, status))
    errors.raise_if_any()
    return out


def chips_digest(public_ids):
    """SHA-256 over the sorted public ids, one per line: what the log event commits to."""
    h = hashlib.sha256()
    for public_id in sorted(public_ids):
        h.update(public_id.encode())
        h.update(b"\n")
    return h.hexdigest()


def register_chips(items, user):
    """Register a batch for the caller's organisation. All or nothing."""
    from registry.models import RegistrationBatch

    org = user.organisation
    if org is None or org.kind not in (OrgKind.OPERATOR, OrgKind.MANUFACTURER):
        raise Problem(403, "forbidden", "Only operators and manufacturers register chips.")
    rows = validate_rows(items, org)
    with transaction.atomic():
        batch = RegistrationBatch.objects.create(organisation=org, user=user, submitted=len(rows), created=0)
        writer = _register_postgres if connection.vendor == "postgresql" else _register_generic
        created = writer(rows, org, batch)
        if created == 0:
            batch.delete()
            return RegistrationResult(None, len(rows), 0)
        batch.created = created
        emit("chips.changed", organisations=[org.id])
        batch.log_index = _log_batch(batch, org, user, rows if created == len(rows) else None)
        batch.save(update_fields=["created", "log_index"])
    return RegistrationResult(batch, len(rows), created)


def _log_batch(batch, org, user, rows=None):
    """Append one `chip.registered` event for the batch's new chips.

    `rows`, when every submitted row was new, saves reading the chips back.
    """
    from registry.models import Chip, Organisation
    from transparency.events import append_event

    codes = dict(Organisation.objects.filter(kind=OrgKind.MANUFACTURER).values_list("id", "code"))
    if rows is None:
        rows = (
            Chip.objects.filter(batch=batch).values_list("pk", "manufacturer_id", "serial").iterator(chunk_size=20000)
        )
    ids = (f"{codes[r[1]]}:{r[2]}" for r in rows)  # stored serials are already normalised
    data = {
        "batch": str(batch.id),
        "organisation": org.code,
        "country": org.country,
        "by": user.username,
        "count": batch.created,
        "chips_sha256": chips_digest(ids),
    }
    return append_event("chip.registered", f"registration:{batch.id}", data)


def _conflict_problem(conflicts):
    first = conflicts[0]
    return Problem(
        409,
        "chip_conflict",
        f"{len(conflicts)} chip(s) are already registered with different data; nothing was registered. "
        f"First: row {first['row']}, {first['chip']} differs in {', '.join(first['fields'])}.",
        conflicts=conflicts,
    )


def _register_postgres(rows, org, batch):
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE chip_import (row integer, manufacturer_id bigint, serial text, model_id bigint,"
            " uuid text, board_part_number text, fingerprint text, status text) ON COMMIT DROP"
        )
        with cursor.cursor.copy(
            "COPY chip_import (row, manufacturer_id, serial, model_id, uuid, board_part_number, fingerprint, status)"
            " FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            "INSERT INTO registry_chip (manufacturer_id, serial, model_id, uuid, board_part_number,"
            " attestation_key_fingerprint, status, custodian_id, registered_by_id, country, batch_id,"
            " created_at, updated_at)"
            " SELECT manufacturer_id, serial, model_id, coalesce(uuid, ''), coalesce(board_part_number, ''),"
            " coalesce(fingerprint, ''), status, %s, %s, %s, %s, %s, %s FROM chip_import"
            " ON CONFLICT (manufacturer_id, serial) DO NOTHING",
            [org.id, org.id, org.country, batch.id, now, now],
        )
        created = cursor.rowcount
        if created < len(rows):
            # Runs after the insert so that a concurrent registration of the
            # same serial (which the insert waited for) is compared too.
            cursor.execute(
                "SELECT t.row, m.code, t.serial,"
                " c.model_id <> t.model_id, c.custodian_id <> %s,"
                " t.uuid IS NOT NULL AND t.uuid <> c.uuid,"
                " t.board_part_number IS NOT NULL AND t.board_part_number <> c.board_part_number,"
                " t.fingerprint IS NOT NULL AND t.fingerprint <> c.attestation_key_fingerprint"
                " FROM chip_import t"
                " JOIN registry_chip c ON c.manufacturer_id = t.manufacturer_id AND c.serial = t.serial"
                " JOIN registry_organisation m ON m.id = t.manufacturer_id"
                " WHERE c.batch_id IS DISTINCT FROM %s AND (c.model_id <> t.model_id OR c.custodian_id <> %s"
                " OR (t.uuid IS NOT NULL AND t.uuid <> c.uuid)"
                " OR (t.board_part_number IS NOT NULL AND t.board_part_number <> c.board_part_number)"
                " OR (t.fingerprint IS NOT NULL AND t.fingerprint <> c.attestation_key_fingerprint))"
                " ORDER BY t.row LIMIT %s",
                [org.id, batch.id, org.id, MAX_REPORTED_ERRORS],
            )
            conflicts = [_describe_conflict(r) for r in cursor.fetchall()]
            if conflicts:
                raise _conflict_problem(conflicts)
        cursor.execute("DROP TABLE chip_import")
    return created


_CONFLICT_FIELDS = ("model", "custodian", "uuid", "board_part_number", "attestation_key_fingerprint")


def _describe_conflict(record):
    row, code, serial, *flags = record
    return {
        "row": row,
        "chip": format_chip_id(code, serial),
        "fields": [name for name, differs in zip(_CONFLICT_FIELDS, flags, strict=True) if differs],
    }


def _register_generic(rows, org, batch):
    """The portable path (SQLite): chunked lookups and bulk_create."""
    from registry.models import Chip, Organisation

    codes = dict(Organisation.objects.filter(kind=OrgKind.MANUFACTURER).values_list("id", "code"))
    created = 0
    conflicts = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        existing = {}
        for manufacturer_id in {r[1] for r in chunk}:
            serials = [r[2] for r in chunk if r[1] == manufacturer_id]
            for chip in Chip.objects.filter(manufacturer_id=manufacturer_id, serial__in=serials):
                existing[(chip.manufacturer_id, chip.serial)] = chip
        new = []
        for row, manufacturer_id, serial, model_id, uuid, bpn, fingerprint, status in chunk:
            chip = existing.get((manufacturer_id, serial))
            if chip is None:
                new.append(
                    Chip(
                        manufacturer_id=manufacturer_id,
                        serial=serial,
                        model_id=model_id,
                        uuid=uuid or "",
                        board_part_number=bpn or "",
                        attestation_key_fingerprint=fingerprint or "",
                        status=status,
                        custodian_id=org.id,
                        registered_by_id=org.id,
                        country=org.country,
                        batch=batch,
                    )
                )
                continue
            flags = (
                chip.model_id != model_id,
                chip.custodian_id != org.id,
                uuid is not None and uuid != chip.uuid,
                bpn is not None and bpn != chip.board_part_number,
                fingerprint is not None and fingerprint != chip.attestation_key_fingerprint,
            )
            if any(flags) and len(conflicts) < MAX_REPORTED_ERRORS:
                conflicts.append(_describe_conflict((row, codes[manufacturer_id], serial, *flags)))
        Chip.objects.bulk_create(new, batch_size=1000)
        created += len(new)
    if conflicts:
        raise _conflict_problem(conflicts)
    return created
