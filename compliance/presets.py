"""Threshold presets, each citing its source (see registry/data/README.md)."""

from datetime import UTC, datetime

MIRI = (
    "MIRI Technical Governance Team, draft international agreement on AI (2025): covered chip cluster "
    "= more than 16 H100-equivalents = 253,440 TPP, counting chips co-located or networked above 25 Gbit/s"
)
MIRI_TRAINING = (
    "MIRI Technical Governance Team, draft international agreement on AI (2025): training compute "
    "thresholds, FLOP counted as FP16-equivalent (or actual operations, whichever is higher)"
)
MIRI_RUNS = (
    "MIRI Technical Governance Team, draft international agreement on AI (2025), Article IV: a training run "
    "above 1e22 FLOP is declared before it starts and the treaty body may object within 30 days (silence is "
    "approval); a training run above 1e24 FLOP is prohibited"
)
EO = (
    "US Executive Order 14110 (2023, since revoked), sec. 4.2(b)(ii): computing cluster co-located, "
    "networked above 100 Gbit/s, theoretical maximum of 1e20 integer or floating-point OP/s"
)
EU = "EU AI Act (Regulation (EU) 2024/1689), Art. 51(2): general-purpose model with systemic risk above 1e25 FLOP"
SINCE = datetime(2025, 1, 1, tzinfo=UTC)

PRESETS = {
    "draft-treaty": [
        dict(
            key="treaty-covered-cluster-facility",
            name="Covered chip cluster (facility)",
            legal_reference=MIRI,
            metric="tpp",
            scope="facility",
            comparison="gt",
            value=253_440,
            severity="high",
        ),
        dict(
            key="treaty-covered-cluster-campus",
            name="Covered chip cluster (campus)",
            legal_reference=MIRI,
            metric="tpp",
            scope="campus",
            comparison="gt",
            value=253_440,
            severity="high",
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
    "draft-treaty-runs": [
        dict(
            key="treaty-run-review",
            name="Training run to declare and review",
            legal_reference=MIRI_RUNS,
            metric="run_planned_compute",
            scope="run",
            comparison="gt",
            value=1e22,
            severity="medium",
            effect="review",
            review_days=30,
        ),
        dict(
            key="treaty-run-prohibited",
            name="Prohibited training run (declared)",
            legal_reference=MIRI_RUNS,
            metric="run_planned_compute",
            scope="run",
            comparison="gt",
            value=1e24,
            severity="critical",
            effect="prohibit",
        ),
    ],
    "us-eo-14110": [
        dict(
            key="us-eo-14110-cluster",
            name="EO 14110 computing cluster",
            legal_reference=EO,
            metric="peak_ops",
            precision="fastest",
            scope="facility",
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
                "effect": "alert",
                "review_days": None,
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
    return declared
