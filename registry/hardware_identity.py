"""Chips' device identities (HARDWARE.md 4 check 6, and 5): who enrolled which, and the log of it.

A chip's device identity is what its fused key proves it is, `<vendor>-<generation>:<HEX>`. It is
enrolled once per chip and names one chip only (both unique in the database), either

- by the chip's manufacturer (registration's `device_identity`, or the identity endpoint):
  authoritative; it replaces an identity enrolled on an operator's word, and the caller files the
  `identity_mismatch` finding that contradiction is (findings are the inventory's, above us); or
- by the chip's first verified evidence (trust on first use), on its custodian's statement.

Every enrolment is a `chip.identity_enrolled` log event, read by the chip's custodian, its
manufacturer, whoever enrolled it, the inspectorate of the chip's country and the treaty body.
Callers hold the log's lock or take it here (append_events), so enrolments are serialised.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.bulk import insert_rows
from core.errors import Conflict, Invalid
from protocol.hardware import MAX_IDENTITY, is_identity
from registry import storage
from registry.models import Chip, HardwareIdentity, IdentitySource


def check_identity(value, field="device_identity"):
    """The identity in its one spelling (the one HARDWARE.md check 6 derives), or Invalid naming the form."""
    if not is_identity(value):
        raise Invalid(
            f"{field} must be <vendor>-<generation>:<HEX> (vendor and generation of a-z, 0-9, '.', '_', '-', each"
            f" beginning with a letter or digit; an upper-case hex serial; {MAX_IDENTITY} characters at most),"
            " e.g. nvidia-gh100:41431D480FE5E87274",
            code="invalid_identity",
        )
    return value


def vendor_words():
    """{vendor word: maker code} of every maker (HARDWARE.md check 6: `<vendor>` is the first word of the
    provisioning certificate's O): CHIPREG_IDENTITY_VENDORS where it names the maker, else its registry code
    (nvidia's is nvidia)."""
    from registry.choices import OrgKind
    from registry.models import Organisation

    makers = list(Organisation.objects.filter(kind=OrgKind.MANUFACTURER).values_list("code", flat=True))
    configured = settings.CHIPREG_IDENTITY_VENDORS
    # A configured word is its maker's whatever other maker's code spells it (a maker created later with that
    # code does not take it); check_new_maker refuses such a code anyway.
    words = {word: code for code in makers for word in configured.get(code, ())}
    for code in makers:
        if code not in configured:
            words.setdefault(code, code)
    return words


def own_words(manufacturer_code):
    """The vendor words of a maker's identities: CHIPREG_IDENTITY_VENDORS's for it, else its registry code."""
    return settings.CHIPREG_IDENTITY_VENDORS.get(manufacturer_code, [manufacturer_code])


def check_new_maker(code):
    """Refuse (Invalid, `vendor_word_clash`) to make `code` a manufacturer when one of its vendor words equals
    another maker's, or extends it, or is extended by it, across a '-': words and generations may both hold
    '-', so "nvidia-gb200-nvl:..." could then be read as either maker's, and a maker created (or re-kinded) with
    a crafted code would take over, or block, another's identities."""
    others = {word: owner for word, owner in vendor_words().items() if owner != code}
    for word in own_words(code):
        for other, owner in sorted(others.items()):
            if word == other or word.startswith(f"{other}-") or other.startswith(f"{word}-"):
                raise Invalid(
                    f"A manufacturer {code!r} would carry the device identity vendor word {word!r}, which clashes "
                    f"with {owner!r}'s {other!r} (HARDWARE.md check 6): identities could be read as either's.",
                    code="vendor_word_clash",
                )


def maker_of(identity, words=None):
    """The maker whose vendor word the identity begins with (the longest such word: words may hold '-', so
    "nvidia-x-h1:..." is nvidia-x's, not nvidia's), or None."""
    words = vendor_words() if words is None else words
    matches = [word for word in words if identity.startswith(f"{word}-")]
    return words[max(matches, key=len)] if matches else None


def carries_vendor(identity, manufacturer_code):
    """Whether the identity begins with one of the maker's own vendor words (no query: an evidence statement's
    hot path). Another maker's word extending it cannot exist: check_new_maker refuses such a maker."""
    return any(identity.startswith(f"{word}-") for word in own_words(manufacturer_code))


def check_vendor(identity, manufacturer_code, field="device_identity", words=None):
    """The identity, if it is one its maker's chips carry; else Invalid (`identity_vendor`). Without it, a rival
    maker (or the treaty body by mistake) would enrol another vendor's identity on a chip of its own: the real
    chip's evidence would then read as a duplicate, and its maker could never enrol it."""
    if maker_of(identity, words) != manufacturer_code:
        raise Invalid(
            f"{field} {identity!r} is not a {manufacturer_code} chip's identity: its vendor must be "
            + " or ".join(repr(v) for v in own_words(manufacturer_code))
            + " (HARDWARE.md check 6).",
            code="identity_vendor",
        )
    return identity


def enrolled(chip_pks):
    """{chip pk: HardwareIdentity} of the chips that have one."""
    return {h.chip_id: h for h in HardwareIdentity.objects.filter(chip_id__in=list(chip_pks))}


def owners(identities):
    """{identity: chip pk} of the identities enrolled for some chip."""
    return dict(HardwareIdentity.objects.filter(identity__in=list(identities)).values_list("identity", "chip_id"))


@dataclass(frozen=True)
class Enrolled:
    identity: str
    key_sha256: str


@dataclass(frozen=True)
class EvidenceFacts:
    """What an evidence statement judges its chips by, read under the log's lock (facts_for_evidence)."""

    found: dict  # {chip pk: (custodian id, status, country)}: the chips as they are now
    facts: dict  # {chip pk: (maker code, custodian code, country)}: what an enrolment's event says (ChipFacts)
    enrolled: dict  # {chip pk: Enrolled}: the identity enrolled for the chip
    owners: dict  # {identity: chip pk}: the chip each of the statement's verified identities is enrolled for


def facts_for_evidence(chip_pks, identities):
    """The chips of an evidence statement and the identities its evidence verified, as they are under the log's
    lock (one round trip): the statement resolved its chips before the append, and a statement or transfer
    committed while it waited may have moved one (who holds it decides what its evidence enrols, proves and
    places; where it lies decides who reads the enrolment's event)."""
    chips, owned = storage.evidence_facts(list(chip_pks), list(identities))
    found, facts, enrolled = {}, {}, {}
    for pk, custodian_id, custodian, maker, country, status, identity, key in chips:
        found[pk] = (custodian_id, status, country)
        facts[pk] = (maker, custodian or "", country or "")
        if identity is not None:
            enrolled[pk] = Enrolled(identity, key)
    return EvidenceFacts(found, facts, enrolled, {identity: pk for pk, identity in owned})


def _event(chip, identity, key_sha256, source, organisation, replaces=None):
    facts = ChipFacts(chip.public_id, chip.manufacturer.code, chip.custodian.code, chip.country)
    return _event_of(facts, identity, key_sha256, source, organisation, replaces)


@dataclass(frozen=True)
class ChipFacts:
    """What an enrolment's log event says of its chip, and whom it shows it to."""

    public_id: str
    manufacturer: str  # its code
    custodian: str  # its code
    country: str


def _event_of(chip, identity, key_sha256, source, organisation, replaces=None):
    data = {
        "chip": chip.public_id,
        "identity": identity,
        "key_sha256": key_sha256,
        "source": str(source),
        "organisation": organisation.code,
    }
    if replaces:
        data["replaces"] = replaces
    parties = sorted({organisation.code, chip.custodian, chip.manufacturer})
    countries = [chip.country] if chip.country else []
    return ("chip.identity_enrolled", chip.public_id, data, parties, countries)


def _chips(chip_pks):
    return Chip.objects.select_related("manufacturer", "custodian").in_bulk(list(chip_pks))


def enrol_on_evidence(entries, organisation, at=None):
    """Trust on first use: `entries` are (chip pk, ChipFacts, identity, key SHA-256) of chips with no
    identity whose evidence verified, on `organisation`'s statement (the chips' custodian: the caller read
    their facts with the statement's chips). One log event each; returns the rows."""
    from transparency.events import append_events

    if not entries:
        return []
    at = at or timezone.now()
    first = append_events(
        [_event_of(facts, ident, key, IdentitySource.EVIDENCE, organisation) for _, facts, ident, key in entries]
    )
    rows = [
        HardwareIdentity(
            chip_id=pk,
            identity=ident,
            key_sha256=key,
            source=IdentitySource.EVIDENCE,
            enrolled_by=organisation,
            enrolled_at=at,
            log_index=first + i,
        )
        for i, (pk, _, ident, key) in enumerate(entries)
    ]
    insert_rows(HardwareIdentity, rows)  # a thousand new chips' enrolments in one cheap statement
    return rows


def learn_key(chip_pks_keys):
    """An identity enrolled without its key (a manufacturer's) learns it from its first verified evidence:
    (chip pk, key SHA-256) pairs. Not an enrolment (the identity does not change): no event."""
    for pk, key in chip_pks_keys:
        HardwareIdentity.objects.filter(chip_id=pk, key_sha256="").update(key_sha256=key)


def enrol_by_manufacturer(chip, identity, organisation):
    """The manufacturer (or the treaty body) enrols `identity` for `chip`. Returns (row, replaced): the
    identity an operator's evidence had enrolled and this one contradicts, or None.

    The same identity again is a no-op (confirming one enrolled on first use makes it the manufacturer's);
    an identity another chip has, or one a manufacturer enrolled differently before, is a 409."""
    from transparency.events import append_events

    check_identity(identity)
    chip = Chip.objects.select_related("manufacturer", "custodian").get(pk=chip.pk)
    check_vendor(identity, chip.manufacturer.code)
    other = HardwareIdentity.objects.filter(identity=identity).exclude(chip=chip).exists()
    if other:
        raise Conflict(f"{identity} is enrolled for another chip.", code="identity_duplicate")
    current = HardwareIdentity.objects.select_for_update().filter(chip=chip).first()
    if current is not None and current.source == IdentitySource.MANUFACTURER:
        if current.identity == identity:
            return current, None
        raise Conflict(
            f"{chip.public_id} has the device identity {current.identity}, enrolled by its manufacturer.",
            code="identity_conflict",
        )
    replaced = current.identity if current is not None and current.identity != identity else None
    key = current.key_sha256 if current is not None and not replaced else ""
    log_index = append_events([_event(chip, identity, key, IdentitySource.MANUFACTURER, organisation, replaced)])
    # The append holds the log's lock to the commit, and statements enrol under it: read again, so that
    # an enrolment on first use committed meanwhile is not replaced without its mismatch being recorded.
    now = HardwareIdentity.objects.filter(chip=chip).values_list("identity", "source").first()
    if now != ((current.identity, current.source) if current is not None else None):
        raise Conflict(f"{chip.public_id}'s device identity changed meanwhile; send it again.", code="identity_changed")
    values = {
        "identity": identity,
        "key_sha256": key,
        "source": IdentitySource.MANUFACTURER,
        "enrolled_by": organisation,
        "enrolled_at": timezone.now(),
        "log_index": log_index,
    }
    try:
        with transaction.atomic():
            row, _ = HardwareIdentity.objects.update_or_create(chip=chip, defaults=values)
    except IntegrityError:  # enrolled for another chip meanwhile
        raise Conflict(f"{identity} is enrolled for another chip.", code="identity_duplicate") from None
    return row, replaced


def enrol_at_registration(pairs, organisation):
    """Registration's `device_identity`: `pairs` are (chip pk, identity) of a manufacturer's batch.
    A chip with that identity already is left as it is; with another, or an identity of another chip,
    the batch is refused (409 chip_conflict), and a contradiction of an operator's enrolment goes
    through the identity endpoint, which records it."""
    if not pairs:
        return 0
    wanted = dict(pairs)
    current = enrolled(wanted)
    taken = owners(wanted.values())
    conflicts, new = [], []
    chips = _chips(wanted)
    for pk, identity in wanted.items():
        chip = chips[pk]
        have = current.get(pk)
        if have is not None:
            if have.identity != identity:
                conflicts.append({"chip": chip.public_id, "fields": ["device_identity"]})
            continue
        if taken.get(identity, pk) != pk:
            conflicts.append(
                {"chip": chip.public_id, "fields": ["device_identity"], "identity_enrolled_elsewhere": True}
            )
            continue
        new.append((pk, identity))
    if conflicts:
        raise Conflict(
            f"{len(conflicts)} chip(s) have another device identity enrolled, or name one enrolled for another"
            f" chip; nothing was registered. First: {conflicts[0]['chip']}. Use POST /api/v1/chips/{{id}}/identity/"
            " to enrol a manufacturer's identity over an operator's.",
            code="chip_conflict",
            conflicts=conflicts[:20],
        )
    from transparency.events import append_events

    if not new:
        return 0
    now = timezone.now()
    first = append_events(
        [_event(chips[pk], ident, "", IdentitySource.MANUFACTURER, organisation) for pk, ident in new]
    )
    try:
        with transaction.atomic():
            HardwareIdentity.objects.bulk_create(
                HardwareIdentity(
                    chip_id=pk,
                    identity=ident,
                    source=IdentitySource.MANUFACTURER,
                    enrolled_by=organisation,
                    enrolled_at=now,
                    log_index=first + i,
                )
                for i, (pk, ident) in enumerate(new)
            )
    except IntegrityError:
        # Enrolled for another chip meanwhile (read before the append, which waited for that enrolment's commit),
        # as enrol_by_manufacturer answers it: a 409, not the unique key's server error.
        raise Conflict(
            "A device identity of this batch was enrolled for another chip meanwhile; nothing was registered.",
            code="identity_duplicate",
        ) from None
    return len(new)
