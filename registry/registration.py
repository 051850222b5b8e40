"""Bulk chip registration: up to a million rows, all or nothing.

Rows are validated in memory first, in one pass (every error named by its
row; the common row, `{"chip": <normalised id>, "model": <slug>}`, costs one
regex match and two dict lookups), then written set-based. On PostgreSQL a
batch of new chips is COPYed straight into registry_chip; when some of them
are already registered (the COPY meets the unique index), that attempt is
rolled back to its savepoint and the rows go through a temporary table and
INSERT ... ON CONFLICT DO NOTHING instead, which tells the new from the
existing. Elsewhere they are bulk-created in chunks. Re-registering a chip
with the same data is a no-op; with different data it is a 409 naming the
chip and the fields that differ. A batch is one log event, committing to the
SHA-256 of its sorted chip ids. A chip another party holds is a 409 that
says only that: never which of that party's fields differ.
"""

import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
    return _validate(items, org)[0]


def _validate(items, org):
    """validate_rows, also returning the batch's public chip ids (in row order)."""
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
    seen = {}  # public id -> row number: duplicates, and the ids the log event commits to
    out = []
    # (manufacturer code, model slug) -> (manufacturer_id, model_id) for pairs a
    # row has already passed every check with: the fast path's only lookup.
    accepted = {}
    fullmatch = CHIP_ID_RE.fullmatch
    append = out.append
    for number, item in enumerate(items, start=1):
        # Fast path: exactly {"chip": <normalised id>, "model": <slug>} with a
        # pair already accepted. Anything else (or a duplicate) takes the full
        # path below, which names the problem.
        if type(item) is dict and len(item) == 2:
            chip = item.get("chip")
            slug = item.get("model")
            if type(chip) is str and type(slug) is str and chip not in seen and fullmatch(chip):
                code, _, serial = chip.partition(":")
                pair = accepted.get((code, slug))
                if pair is not None:
                    seen[chip] = number
                    append((number, pair[0], serial, pair[1], None, None, None, default_status))
                    continue
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
                if fullmatch(chip):
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
        accepted[(manufacturer_code, item["model"])] = (manufacturer_id, model[0])
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
            if value is not None and "\x00" in value:
                errors.add(number, field, "must not contain NUL characters")
                bad = True
                break
            texts.append(value.strip() if isinstance(value, str) else None)
        if bad:
            continue
        key = f"{manufacturer_code}:{serial}"  # the public id: both parts are normalised here
        if key in seen:
            errors.add(number, "chip", f"duplicate of row {seen[key]} in this batch")
            continue
        seen[key] = number
        append((number, manufacturer_id, serial, model[0], *texts, status))
    errors.raise_if_any()
    return out, seen.keys()


def chips_digest(public_ids):
    """SHA-256 over the sorted public ids, one per line: what the log event commits to."""
    ids = sorted(public_ids)
    h = hashlib.sha256("\n".join(ids).encode())
    if ids:
        h.update(b"\n")
    return h.hexdigest()


def register_chips(items, user):
    """Register a batch for the caller's organisation. All or nothing."""
    from registry.models import Organisation, RegistrationBatch

    org = user.organisation
    if org is None or org.kind not in (OrgKind.OPERATOR, OrgKind.MANUFACTURER):
        raise Problem(403, "forbidden", "Only operators and manufacturers register chips.")
    rows, ids = _validate(items, org)
    with transaction.atomic():
        batch = RegistrationBatch.objects.create(organisation=org, user=user, submitted=len(rows), created=0)
        writer = _register_postgres if connection.vendor == "postgresql" else _register_generic
        new_keys = []  # (manufacturer_id, serial) of the new chips, when not all are
        created = writer(rows, org, batch, new_keys)
        if created == 0:
            batch.delete()
            return RegistrationResult(None, len(rows), 0)
        batch.created = created
        emit("chips.changed", organisations=[org.id])
        if created < len(rows):
            codes = dict(Organisation.objects.filter(kind=OrgKind.MANUFACTURER).values_list("id", "code"))
            ids = [f"{codes[m]}:{serial}" for m, serial in new_keys]  # stored serials are normalised
        batch.log_index = _log_batch(batch, org, user, ids)
        batch.save(update_fields=["created", "log_index"])
    return RegistrationResult(batch, len(rows), created)


def _log_batch(batch, org, user, ids):
    """Append one `chip.registered` event for the batch's new chips (`ids`: their public ids)."""
    from transparency.events import append_event

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
    if first.get("registered_to_another_party"):
        what = "is registered to another party"
    else:
        what = f"differs in {', '.join(first['fields'])}"
    return Problem(
        409,
        "chip_conflict",
        f"{len(conflicts)} chip(s) are already registered with different data or to another party; "
        f"nothing was registered. First: row {first['row']}, {first['chip']} {what}.",
        conflicts=conflicts,
    )


# PostgreSQL's binary COPY format, written directly: no text to escape here and
# none to parse there (the server's parsing of two text timestamps, a UUID and
# four integers per row cost more than the indexes). A row is a field count,
# then each field as a length and its bytes; int8 and timestamptz are 8
# big-endian bytes, the timestamp in microseconds since 2000-01-01 UTC.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_COPY_TRAILER = b"\xff\xff"
_ROW_HEAD = struct.Struct(">hiqi").pack  # field count, the manufacturer id (int8), the serial's length
_INT8 = struct.Struct(">iq").pack  # length 8, value
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
COPY_CHUNK = 20_000


def _copy_field(text):
    data = text.encode()
    return len(data).to_bytes(4, "big") + data


def _copy_new_chips(cursor, rows, org, batch, now):
    """COPY the rows straight into registry_chip (raises UniqueViolation if one exists)."""
    stamp = _INT8(8, (now - _PG_EPOCH) // timedelta(microseconds=1))
    # The columns the server sets: the same for every row.
    tail = (
        (_INT8(8, org.id) + _INT8(8, org.id) + _copy_field(org.country) + (16).to_bytes(4, "big") + batch.id.bytes)
        + stamp
        + stamp
    )
    middles = {}  # (model_id, status) -> the fields between serial and tail, for rows without texts

    def middle(model, status, u, b, f):
        return (
            _INT8(8, model) + _copy_field(status) + _copy_field(u or "") + _copy_field(b or "") + _copy_field(f or "")
        )

    with cursor.copy(
        "COPY registry_chip (manufacturer_id, serial, model_id, status, uuid, board_part_number,"
        " attestation_key_fingerprint, custodian_id, registered_by_id, country, batch_id, created_at, updated_at)"
        " FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.write(_COPY_SIGNATURE)
        for start in range(0, len(rows), COPY_CHUNK):
            chunk = []
            for _, m, serial, model, u, b, f, status in rows[start : start + COPY_CHUNK]:
                if u is None and b is None and f is None:
                    mid = middles.get((model, status))
                    if mid is None:
                        mid = middles[(model, status)] = middle(model, status, u, b, f)
                else:
                    mid = middle(model, status, u, b, f)
                data = serial.encode()
                chunk.append(_ROW_HEAD(13, 8, m, len(data)) + data + mid + tail)
            copy.write(b"".join(chunk))
        copy.write(_COPY_TRAILER)


def _register_postgres(rows, org, batch, new_keys):
    """Write the rows; return how many chips were new. When not all were,
    `new_keys` receives (manufacturer_id, serial) of each new one."""
    import psycopg

    now = timezone.now()
    with connection.cursor() as cursor:
        # A batch whose first or last chip is registered already (a retry, a
        # re-registration) goes straight to the comparing path.
        cursor.execute(
            "SELECT 1 FROM registry_chip WHERE (manufacturer_id = %s AND serial = %s)"
            " OR (manufacturer_id = %s AND serial = %s) LIMIT 1",
            [*rows[0][1:3], *rows[-1][1:3]],
        )
        if cursor.fetchone() is None:
            try:
                with transaction.atomic():
                    _copy_new_chips(cursor.cursor, rows, org, batch, now)
                return len(rows)
            except psycopg.errors.UniqueViolation:
                pass  # some are registered already (or were, concurrently): compare them
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
            " ON CONFLICT (manufacturer_id, serial) DO NOTHING RETURNING manufacturer_id, serial",
            [org.id, org.id, org.country, batch.id, now, now],
        )
        new_keys += cursor.fetchall()
        created = len(new_keys)
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
    chip = format_chip_id(code, serial)
    if flags[_CONFLICT_FIELDS.index("custodian")]:
        # Another party's chip: which of its fields differ would tell the caller
        # what that party holds (its model, its identity), one guess at a time.
        return {"row": row, "chip": chip, "registered_to_another_party": True}
    return {
        "row": row,
        "chip": chip,
        "fields": [name for name, differs in zip(_CONFLICT_FIELDS, flags, strict=True) if differs],
    }


def _register_generic(rows, org, batch, new_keys=None):
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
        if new_keys is not None:
            new_keys += [(chip.manufacturer_id, chip.serial) for chip in new]
    if conflicts:
        raise _conflict_problem(conflicts)
    return created
