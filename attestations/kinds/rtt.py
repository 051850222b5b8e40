"""RTT statements: a landmark's round-trip time to a chip, which bounds how far the chip can be."""

from attestations import findings as F
from attestations.kinds.resolution import Resolution
from attestations.models import ChiplessSighting, Sighting
from inventory.choices import FindingKind


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
    att.header = {**att.header, "distance_km": round(km, 3), "bound_km": round(bound, 3)}
    att.save(update_fields=["header"])
    if info is None:
        found.append(F._d(FindingKind.UNKNOWN_CHIP, s.chip, None, att.pk))
    return found
