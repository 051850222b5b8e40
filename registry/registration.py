"""Bulk chip registration: up to a million rows, all or nothing.

Rows are validated in memory first, in one pass (every error named by its
row; the common row, `{"chip": <normalised id>, "model": <slug>}`, costs one
regex match and two dict lookups), then written set-based (the statements are registry.storage's).
A chip's (manufacturer, serial) is unique in the database in the identity
table (registry.models.ChipIdentity), written here beside each chip. A
batch of new chips is COPYed straight into the chip table and its identities
inserted from it; when some of them are already registered (an identity meets
the unique key), that attempt is rolled back to its savepoint and the rows go
through a temporary table and INSERT ... ON CONFLICT DO NOTHING instead, which
tells the new from the existing. Re-registering a chip
with the same data is a no-op; with different data it is a 409 naming the
chip and the fields that differ. A batch is one log event, committing to the
SHA-256 of its sorted chip ids. A chip another party holds is a 409 that
says only that: never which of that party's fields differ.
"""

import hashlib
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, Invalid, TooLarge
from outbox import emit
from protocol.serials import CHIP_ID_RE, format_chip_id, normalize_chip_id, normalize_serial, parse_chip_id
from registry import storage
from registry.choices import DISPOSAL_STATUSES, WATCHED_STATUSES, ChipStatus, OrgKind
from registry.hardware_identity import check_identity, check_vendor, enrol_at_registration, vendor_words

OFF_THE_BOOKS = frozenset(str(s) for s in DISPOSAL_STATUSES | WATCHED_STATUSES)
# Out of every total too, and entered only by a transfer's shipment (registry.services.check_transition): a chip
# registered in transit would be bound to no transfer and could never be set at rest by its holder.
NOT_REGISTERED = OFF_THE_BOOKS | {str(ChipStatus.IN_TRANSIT)}

ROW_FIELDS = {
    "chip",
    "manufacturer",
    "serial",
    "model",
    "uuid",
    "board_part_number",
    "attestation_key_fingerprint",
    "status",
    "device_identity",
}
OPTIONAL_TEXT = ("uuid", "board_part_number", "attestation_key_fingerprint")
TEXT_LIMITS = {"uuid": 64, "board_part_number": 64, "attestation_key_fingerprint": 128}
MAX_REPORTED_ERRORS = 20


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
            raise Invalid(
                f"{self.total} row(s) are invalid; nothing was registered. "
                f"First: row {first['row']}, {first['field']}: {first['message']}",
                code="invalid_rows",
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


def _validate(items, org, identities=None):
    """validate_rows, also returning the batch's public chip ids (in row order). `identities`, when given,
    receives {serial: device identity} of the rows that carry one (a manufacturer's own chips only)."""
    if not isinstance(items, list):
        items = [items]
    if not items:
        raise Invalid("The request names no chips.", code="empty_batch")
    if len(items) > settings.CHIPREG_BULK_MAX_ROWS:
        raise TooLarge(
            f"At most {settings.CHIPREG_BULK_MAX_ROWS} chips per request; this one has {len(items)}.",
            code="too_many_rows",
        )
    models = _models_by_slug()
    manufacturers = _manufacturers()
    words = None  # every maker's vendor words, read at the first row with a device identity
    default_status = ChipStatus.MANUFACTURED if org.kind == OrgKind.MANUFACTURER else ChipStatus.INSTALLED
    statuses = set(ChipStatus.values)
    errors = RowErrors()
    seen = {}  # public id -> row number: duplicates, and the ids the log event commits to
    identity_rows = {}  # device identity -> the row that gave it
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
        if status in NOT_REGISTERED:
            # A chip registered destroyed, decommissioned, lost, stolen or in transit would never count anywhere:
            # it enters the books live, and leaves them by a witnessed disposal, a report that is alerted or a
            # transfer.
            errors.add(
                number, "status", f"a chip is not registered {status}; register it, then report, request or ship"
            )
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
        identity = None
        if "device_identity" in item:
            if org.kind != OrgKind.MANUFACTURER:
                errors.add(number, "device_identity", "only the chip's manufacturer enrols a device identity")
                continue
            try:
                words = vendor_words() if words is None else words
                identity = check_vendor(check_identity(item["device_identity"]), manufacturer_code, words=words)
            except Invalid as exc:
                errors.add(number, "device_identity", exc.detail)
                continue
        key = f"{manufacturer_code}:{serial}"  # the public id: both parts are normalised here
        if key in seen:
            errors.add(number, "chip", f"duplicate of row {seen[key]} in this batch")
            continue
        if identity is not None:
            # An identity names one chip (unique in the database): two rows giving it are bad input, named here,
            # not a unique key violated by the enrolment after everything else was written.
            if identity in identity_rows:
                errors.add(number, "device_identity", f"the device identity of row {identity_rows[identity]}")
                continue
            identity_rows[identity] = number
            if identities is not None:
                identities[serial] = identity
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
    org = user.organisation
    if org is None or org.kind not in (OrgKind.OPERATOR, OrgKind.MANUFACTURER):
        raise Forbidden("Only operators and manufacturers register chips.")
    if not org.country:
        # A chip lies in its holder's country until a facility places it: registered by a party of no country
        # (a manufacturer loaded from the catalog), it would lie in no inspectorate's view, and its first
        # shipment abroad would leave no country (no export authorisation asked, no country told).
        raise Conflict(
            f"{org.code} has no home country, so chips it registers would lie in none: the treaty body or a "
            "registry administrator records it first (PATCH /api/v1/organisations/{code}/ country).",
            code="no_home_country",
        )
    identities = {}
    rows, ids = _validate(items, org, identities)
    try:
        return _register(rows, ids, identities, org, user)
    except Conflict as refused:
        if refused.code == "chip_conflict":
            _log_refused(org, user, refused.extra["conflicts"])
        raise


def _register(rows, ids, identities, org, user):
    from registry.models import Organisation

    with transaction.atomic():
        batch, floor, registered = _open_batch(org, user, len(rows), rows[0][1:3], rows[-1][1:3])
        new_keys = []  # (manufacturer_id, serial) of the new chips, when not all are
        created = _write(rows, org, batch, new_keys, floor, registered)
        _enrol_identities(identities, org)
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


def _open_batch(org, user, submitted, first, last):
    """The batch's row, written with the probe of its first and last chip in one round trip
    (storage.open_batch): (batch, chip id floor, whether either chip is registered)."""
    from registry.models import RegistrationBatch

    batch_id, at = uuid.uuid4(), timezone.now()
    floor, registered = storage.open_batch(batch_id, org.id, user.id, at, submitted, first, last)
    batch = RegistrationBatch(id=batch_id, organisation=org, user=user, at=at, submitted=submitted, created=0)
    batch._state.adding, batch._state.db = False, DEFAULT_DB_ALIAS  # stored: a later save() updates it
    return batch, floor, registered


def _enrol_identities(identities, org):
    """The manufacturer's device identities of its rows (HARDWARE.md 5: authoritative), each a log event."""
    if not identities:
        return
    from registry.models import Chip

    pks = dict(Chip.objects.filter(manufacturer=org, serial__in=list(identities)).values_list("serial", "pk"))
    enrol_at_registration([(pks[serial], identity) for serial, identity in identities.items()], org)


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


def _log_refused(org, user, conflicts):
    """A batch refused for naming chips another party holds (chip_conflict; the batch itself rolled back) is a
    `chips.registration_refused` event, in its own transaction: the holders of those chips and their countries'
    inspectorates learn that `org` tried to register them (a squatter's probe, or a buyer ahead of its seller's
    shipment), and the registrant reads its own attempt. The data names the chips the registrant itself sent and
    never their holders; who reads the event is not served to anyone."""
    from django.db.models import Q

    from registry.models import Chip
    from transparency.events import append_event

    named = sorted(c["chip"] for c in conflicts if c.get("registered_to_another_party"))
    if not named:
        return
    which = Q()
    for maker, serial in map(parse_chip_id, named):
        which |= Q(manufacturer__code=maker, serial=serial)
    held = set(Chip.objects.filter(which).values_list("custodian__code", "country"))  # one read, at most 20 chips
    with transaction.atomic():
        append_event(
            "chips.registration_refused",
            f"registration-refused:{uuid.uuid4()}",
            {"registrant": org.code, "by": user.username, "chips": named},
            parties=sorted({org.code} | {holder for holder, _ in held if holder}),
            countries=sorted({country for _, country in held if country}),
        )


def _conflict_problem(conflicts):
    first = conflicts[0]
    if first.get("registered_to_another_party"):
        what = "is registered to another party"
    else:
        what = f"differs in {', '.join(first['fields'])}"
    return Conflict(
        f"{len(conflicts)} chip(s) are already registered with different data or to another party; "
        f"nothing was registered. First: row {first['row']}, {first['chip']} {what}.",
        code="chip_conflict",
        conflicts=conflicts,
    )


def _write(rows, org, batch, new_keys, floor, registered):
    """Write the rows; return how many chips were new. When not all were,
    `new_keys` receives (manufacturer_id, serial) of each new one. `floor` and
    `registered`: _open_batch's."""
    now = timezone.now()
    # A batch whose first or last chip is registered already (a retry, a
    # re-registration) goes straight to the comparing path.
    if not registered:
        try:
            with transaction.atomic():
                storage.copy_new_chips(rows, org.id, org.country, batch.id, now, floor)
            return len(rows)
        except storage.SerialTaken:
            pass  # some are registered already (or were, concurrently): compare them
    keys, conflicts = storage.insert_chips_comparing(rows, org.id, org.country, batch.id, now, MAX_REPORTED_ERRORS)
    new_keys += keys
    if conflicts:
        raise _conflict_problem([_describe_conflict(r) for r in conflicts])
    return len(keys)


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
