"""Continuity of knowledge: chips nobody has verified within the window are findings."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from inventory.choices import FindingKind, FindingSource
from inventory.services.findings import holders_finding, raise_monitored
from protocol.serials import format_chip_id
from registry.choices import ChipStatus
from registry.models import Chip

GONE = (ChipStatus.DESTROYED, ChipStatus.LOST, ChipStatus.STOLEN)
# Functions (chip_pks, since) -> None that bring chips' last_verified_at up to
# date from evidence a higher layer folds in lazily (attestations' sightings).
VERIFICATION_SOURCES = []


def register_verification_source(refresh):
    if refresh not in VERIFICATION_SOURCES:
        VERIFICATION_SOURCES.append(refresh)


def find_silent_chips(now=None, window_days=None):
    """Raise one `silent_chip` finding per chip and silence (keyed by its last verification).

    A chip verified again and then silent again gets a new finding; the same
    silence is never reported twice. Returns the number of silent chips seen.
    """
    now = now or timezone.now()
    window = timedelta(days=settings.CHIPREG_SILENCE_WINDOW_DAYS if window_days is None else window_days)
    cutoff = now - window
    candidates = Chip.objects.exclude(status__in=GONE).filter(
        Q(last_verified_at__lt=cutoff) | Q(last_verified_at__isnull=True, created_at__lt=cutoff)
    )
    if VERIFICATION_SOURCES:
        # Evidence not folded in yet (a statement accepted a moment ago) must not make a seen chip look silent.
        after = 0
        while pks := list(candidates.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:10_000]):
            for refresh in VERIFICATION_SOURCES:
                refresh(pks, cutoff)
            after = pks[-1]
    silent = candidates.values_list(
        "pk", "manufacturer__code", "serial", "custodian_id", "country", "last_verified_at"
    ).order_by("pk")

    def finding(pk, maker, serial, custodian_id, country, last):
        since = last.isoformat() if last else "never"
        return holders_finding(
            FindingKind.SILENT,
            (pk, format_chip_id(maker, serial), custodian_id, country),
            source=FindingSource.MONITOR,
            source_id=f"since:{since}",
            detail=f"Not verified since {since}; the window is {window.days} days.",
            evidence={"last_verified_at": last.isoformat() if last else None, "checked_at": now.isoformat()},
        )

    findings = (finding(*row) for row in silent.iterator(chunk_size=10_000))
    return raise_monitored(findings, FindingSource.MONITOR, "silence")
