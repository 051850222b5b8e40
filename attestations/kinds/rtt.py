"""RTT statements: a landmark's round-trip time to a chip, which bounds how far the chip can be.

With the evidence the chip returned to the landmark over the landmark's own challenge (HARDWARE.md 6),
the bound is tied to that physical chip: the statement is marked bound (`header.bound`, and
`header.binding` says why or why not) when the evidence verifies and names the device identity
enrolled for the chip. A landmark enrols no identity (trust on first use is the custodian's word, not
a landmark's): a chip with none enrolled leaves the statement unbound (`no_identity_enrolled`).
"""

from attestations import findings as F
from attestations import hardware
from attestations.kinds.resolution import Resolution
from attestations.models import ChipEvidence, ChiplessSighting, EvidenceOutcome, Sighting
from inventory.choices import FindingKind
from registry import chip_writes, hardware_identity


def store(att, s, v):
    """The chip's sighting and the statement's distance and bound: the findings (a landmark's: its
    treaty body is entitled to every one)."""
    info = Resolution([s.chip]).get(s.chip)
    pk = info[0] if info else None
    row = {"attestation": att, "chip_ref": s.chip, "facility": v.facility, "observed_at": s.measured_at}
    if pk is not None:
        Sighting.objects.create(chip_id=pk, **row)
    else:
        ChiplessSighting.objects.create(**row)
    found, km, bound = F.rtt_bound(att.pk, s, v.landmark, v.facility, pk)
    binding = "no_evidence"
    if v.hardware is not None:
        hardware.use_landmark_challenge(att.keyids, s.challenge, att)
        binding = _bind(att, s, v.hardware.results[0], pk, found)
    att.header = {
        **att.header,
        "distance_km": round(km, 3),
        "bound_km": round(bound, 3),
        "bound": binding == "verified",
        "binding": binding,
    }
    att.save(update_fields=["header"])
    if info is None:
        found.append(F._d(FindingKind.UNKNOWN_CHIP, s.chip, None, att.pk))
    return found


def _finding(kind, s, pk, att, note):
    d = F._d(kind, s.chip, pk, att.pk)
    d.note = note
    return d


def _bind(att, s, result, pk, found):
    """Judge the chip's evidence against its enrolled identity; record it. Returns the binding."""
    row = ChipEvidence(attestation_id=att.pk, chip_id=pk, chip_ref=s.chip, observed_at=s.measured_at)
    if result.error is not None:
        found.append(_finding(FindingKind(result.error.code), s, pk, att, result.error.detail))
        row.outcome, row.step, row.detail = result.error.code, result.error.step, result.error.detail[:2000]
        row.save()
        return result.error.code
    ev = result.verified
    row.identity, row.key_sha256, row.fwid, row.driver_version = (
        ev.identity,
        ev.identity_key_sha256,
        ev.fwid,
        ev.driver_version[:64],
    )
    have = hardware_identity.enrolled([pk]).get(pk) if pk is not None else None
    owner = hardware_identity.owners([ev.identity]).get(ev.identity)
    if not hardware_identity.carries_vendor(ev.identity, s.chip.partition(":")[0]):
        # Another vendor's device answering for the chip (its id's first part is its maker), as for an evidence
        # statement (kinds.evidence): its mismatch, never a verified row of that chip's history.
        note = f"the chip answered the landmark with device identity {ev.identity}, of another vendor than its maker"
        found.append(_finding(FindingKind.IDENTITY_MISMATCH, s, pk, att, note))
        row.outcome, binding = EvidenceOutcome.MISMATCH, "identity_mismatch"
    elif have is not None and have.identity != ev.identity:
        found.append(
            _finding(FindingKind.IDENTITY_MISMATCH, s, pk, att, "the chip answered the landmark with another identity")
        )
        row.outcome, binding = EvidenceOutcome.MISMATCH, "identity_mismatch"
    elif owner is not None and owner != pk:
        found.append(
            _finding(FindingKind.IDENTITY_DUPLICATE, s, pk, att, "the device identity is enrolled for another chip")
        )
        row.outcome, binding = EvidenceOutcome.DUPLICATE, "identity_duplicate"
    else:
        row.outcome = EvidenceOutcome.VERIFIED
        binding = "verified" if have is not None else ("no_identity_enrolled" if pk is not None else "unknown_chip")
        if have is not None:
            chip_writes.set_hardware_verified([pk], s.measured_at)
    row.save()
    return binding
