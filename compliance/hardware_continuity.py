"""Continuity of knowledge, in hardware: chips of a covered cluster that have not proved themselves.

A chip proves itself with hardware evidence (HARDWARE.md 5): a report signed by its fused key over a nonce
the registry issued, which moves its `hardware_verified_at` forward (registry.chip_writes). A live chip
(manufactured or installed) placed in a covered chip cluster whose last such proof is older than
CHIPREG_HARDWARE_EVIDENCE_WINDOW_DAYS, or that never gave one, is a `hardware_unverified` finding.

Which clusters are covered: the `covered_cluster` components (compliance.covered) at every bandwidth kept
(the default 25 Gbit/s line and every rule in force of the scope) whose H100-equivalents exceed
COVERED_H100E, the draft agreement's Article V.1 line (the `treaty-covered-cluster` preset's value). The
line is the treaty's definition, not a rule's parameter, so the monitor does not depend on which rules a
treaty body has loaded; the window is a setting, like CHIPREG_SILENCE_WINDOW_DAYS, because a finding has no
rule (and findings are what the alerts of CHIPREG_FINDING_SEVERITY come from).

Like the silence monitor (inventory.services.continuity), one finding per chip and lapse: it is keyed by
the last proof (`hwsince:<time>` or `hwsince:never`), so re-running raises nothing new, and a chip that
proves itself and then lapses again gets a new finding. Its readers are those of any chip finding: the
chip's custodian, its country's inspectorate and the treaty body.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from compliance import covered
from compliance.choices import Scope
from inventory.choices import FindingKind, FindingSource
from inventory.services.findings import holders_finding, raise_monitored
from protocol.serials import format_chip_id
from registry.choices import ChipStatus
from registry.models import Chip

COVERED_H100E = 16  # Article V.1: "a set of chips with capacity greater than 16 H100-equivalents"
LIVE = (ChipStatus.MANUFACTURED, ChipStatus.INSTALLED)


def covered_facilities():
    """The facility ids of every covered cluster now (components over COVERED_H100E, at any bandwidth kept)."""
    totals = covered.compute(Scope.COVERED_CLUSTER)
    keys = [key for key, t in totals.items() if t["h100e"] > COVERED_H100E]
    return sorted({f for m in covered.members(Scope.COVERED_CLUSTER, keys).values() for f in m.facilities})


def find_hardware_unverified(now=None, window_days=None):
    """Raise one `hardware_unverified` finding per chip and lapse (see the module). Returns the number of
    unverified chips seen. A chip registered within the window is given the window to prove itself."""
    now = now or timezone.now()
    days = settings.CHIPREG_HARDWARE_EVIDENCE_WINDOW_DAYS if window_days is None else window_days
    cutoff = now - timedelta(days=days)
    facilities = covered_facilities()
    if not facilities:
        return 0
    rows = (
        Chip.objects.filter(status__in=LIVE, placements__valid_to__isnull=True, placements__facility_id__in=facilities)
        .filter(Q(hardware_verified_at__lt=cutoff) | Q(hardware_verified_at__isnull=True, created_at__lt=cutoff))
        .values_list(
            "pk",
            "manufacturer__code",
            "serial",
            "custodian_id",
            "country",
            "hardware_verified_at",
            "placements__facility_id",
        )
        .order_by("pk")
    )

    def finding(pk, maker, serial, custodian_id, country, last, facility_id):
        since = last.isoformat() if last else "never"
        return holders_finding(
            FindingKind.HARDWARE_UNVERIFIED,
            (pk, format_chip_id(maker, serial), custodian_id, country),
            facility_id=facility_id,
            source=FindingSource.MONITOR,
            source_id=f"hwsince:{since}",
            detail=f"In a covered cluster, no verified hardware evidence since {since}; the window is {days} days.",
            evidence={
                "hardware_verified_at": last.isoformat() if last else None,
                "checked_at": now.isoformat(),
                "window_days": days,
            },
        )

    # The monitor's findings are raised as alerts together (compliance.finding_alerts: source "silence").
    findings = (finding(*row) for row in rows.iterator(chunk_size=10_000))
    return raise_monitored(findings, FindingSource.MONITOR, "silence")
