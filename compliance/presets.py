"""Threshold presets, each citing its source (see registry/data/README.md)."""

from datetime import UTC, datetime

MIRI = (
    "MIRI Technical Governance Team, draft international agreement on AI (2025, arXiv 2511.10783), Article II "
    "and Article V.1: a covered chip cluster (CCC) is a set of chips of more than 16 H100-equivalents "
    "(253,440 TPP), counting chips co-located, networked above 25 Gbit/s, or run together, across facilities "
    "too; Article V.3: chips shall not be disaggregated to take a set out of the definition"
)
MIRI_CONSOLIDATION = (
    "MIRI Technical Governance Team, draft international agreement on AI (2025, arXiv 2511.10783), Article V: "
    "CCCs are located in facilities declared to the ISIA (V.1), consolidated there within 120 days (V.3); chips "
    "outside declared facilities stay under 16 H100-equivalents and are not aggregated to exceed it (V.2). "
    "Measured per operator and country: its live chips in no facility the treaty body accepted"
)
MIRI_TRAINING = (
    "MIRI Technical Governance Team, draft international agreement on AI (2025): training compute "
    "thresholds, FLOP counted as FP16-equivalent (or actual operations, whichever is higher)"
)
EO = (
    "US Executive Order 14110 (2023, since revoked), sec. 4.2(b)(ii): a set of machines physically co-located "
    "in a single datacenter, transitively connected by data center networking of over 100 Gbit/s, with a "
    "theoretical maximum of 1e20 integer or floating-point OP/s for training AI"
)
EU = "EU AI Act (Regulation (EU) 2024/1689), Art. 51(2): general-purpose model with systemic risk above 1e25 FLOP"
SINCE = datetime(2025, 1, 1, tzinfo=UTC)

PRESETS = {
    "draft-treaty": [
        # One rule for the facility, the campus and the linked or jointly run sites: a covered cluster is the
        # connected set (compliance.covered), so one facility, a campus and a network are measured alike.
        dict(
            key="treaty-covered-cluster",
            name="Covered chip cluster",
            legal_reference=MIRI,
            metric="h100e",
            scope="covered_cluster",
            link_gbps=25,
            comparison="gt",
            value=16,
            severity="high",
        ),
        dict(
            key="treaty-consolidation",
            name="Chips to consolidate into accepted facilities",
            legal_reference=MIRI_CONSOLIDATION,
            metric="h100e",
            scope="unaccepted_holdings",
            comparison="gt",
            value=16,
            severity="high",
            clock_days=120,
            overdue_severity="critical",
        ),
        dict(
            key="treaty-training-monitored",
            name="Training compute to declare and monitor",
            legal_reference=MIRI_TRAINING + ": 1e22 FLOP must be declared and monitored",
            metric="compute_window",
            basis="fp16",
            window_days=365,
            scope="facility",
            comparison="ge",
            value=1e22,
            severity="medium",
        ),
        dict(
            key="treaty-training-post",
            name="Post-training threshold",
            legal_reference=MIRI_TRAINING + ": 1e23 FLOP",
            metric="compute_window",
            basis="fp16",
            window_days=365,
            scope="facility",
            comparison="ge",
            value=1e23,
            severity="high",
        ),
        dict(
            key="treaty-training-prohibited",
            name="Prohibited training run",
            legal_reference=MIRI_TRAINING + ": 1e24 FLOP training prohibited",
            metric="compute_window",
            basis="fp16",
            window_days=365,
            scope="facility",
            comparison="ge",
            value=1e24,
            severity="critical",
        ),
    ],
    "us-eo-14110": [
        dict(
            key="us-eo-14110-cluster",
            name="EO 14110 computing cluster",
            legal_reference=EO,
            metric="peak_ops",
            precision="fastest",
            scope="datacenter_cluster",
            link_gbps=100,
            comparison="ge",
            value=1e20,
            severity="medium",
        ),
    ],
    "eu-ai-act": [
        dict(
            key="eu-ai-act-systemic",
            name="EU AI Act systemic-risk compute",
            legal_reference=EU,
            metric="compute_window",
            basis="fp16",
            window_days=365,
            scope="facility",
            comparison="ge",
            value=1e25,
            severity="high",
        ),
    ],
}


def load(user, names=None):
    """Declare the presets (new rules, or new versions where the figures differ). Returns the rules declared."""
    from compliance.models import ThresholdRule
    from compliance.services import RULE_FIELDS, declare

    declared = []
    for preset, rules in PRESETS.items():
        if names and preset not in names:
            continue
        for spec in rules:
            spec = {
                "precision": "",
                "window_days": None,
                "basis": "fp16",
                "link_gbps": None,
                "clock_days": None,
                "overdue_severity": "",
                "effective_from": SINCE,
                **spec,
            }
            key = spec.pop("key")
            current = ThresholdRule.objects.filter(key=key, superseded_at__isnull=True).first()
            fields = {**spec, "preset": preset}
            if current is not None and all(
                getattr(current, f) == fields.get(f, getattr(current, f)) for f in RULE_FIELDS
            ):
                continue
            declared.append(declare(user, key, **fields))
        retire_dropped(user, preset)
    return declared


def retire_dropped(user, preset):
    """Take out of force the rules a preset declared once and no longer holds (the draft treaty's facility and
    campus covered-cluster rules, which its covered_cluster rule replaced): logged as `threshold.retired`.
    Returns the rules retired."""
    from django.utils import timezone

    from compliance.models import ThresholdRule
    from compliance.services import retire

    kept = {spec["key"] for spec in PRESETS[preset]}
    dropped = ThresholdRule.objects.in_force(timezone.now()).filter(preset=preset).exclude(key__in=kept)
    return [retire(user, rule) for rule in dropped]
