"""Threshold presets, each citing its source (see registry/data/README.md)."""

from datetime import UTC, datetime

from compliance.choices import DEFAULT_UNATTRIBUTED_WORKLOADS

# The draft agreement: MIRI Technical Governance Team, "An International Agreement to Prevent the Premature
# Creation of Artificial Superintelligence" (arXiv 2511.10783, November 2025). Article numbers as in the
# treaty text the same team publishes at ifanyonebuildsit.com/treaty (Article II "Definitions", Article IV
# "AI Training", Article V "Chip Consolidation"); the MIRI summary of the report cites "Articles II and IV"
# for the training thresholds. Not checked against the arXiv PDF itself, whose paragraph numbering may differ.
MIRI = "MIRI TGT draft agreement (arXiv 2511.10783)"
MIRI_CLUSTER = (
    f"{MIRI}, Article II "
    "and Article V.1: a covered chip cluster (CCC) is a set of chips of more than 16 H100-equivalents "
    "(253,440 TPP), counting chips co-located, networked above 25 Gbit/s, or run together, across facilities "
    "too; Article V.3: chips shall not be disaggregated to take a set out of the definition"
)
MIRI_CONSOLIDATION = (
    f"{MIRI}, Article V: "
    "CCCs are located in facilities declared to the ISIA (V.1), consolidated there within 120 days (V.3); chips "
    "outside declared facilities stay under 16 H100-equivalents and are not aggregated to exceed it (V.2). "
    "Measured per operator and country: its live chips in no facility the treaty body accepted"
)
MIRI_FLOP = (
    "Article II: FLOP counted as FP16-equivalent operations or the total operations in the format used, "
    "whichever is higher (basis `higher`)"
)
MIRI_PROHIBITED = f"{MIRI}, Article IV(1): any training run exceeding 1e24 FLOP is prohibited"
MIRI_REPORTED = (
    f"{MIRI}, Article IV(2): a training run between 1e22 and 1e24 FLOP is reported before it starts, with an "
    "estimate of its total FLOP; nonresponse after 30 days constitutes approval"
)
MIRI_POST_PROHIBITED = (
    f"{MIRI}, Article IV(1): any post-training run exceeding 1e23 FLOP is prohibited (post-training here: the "
    "kinds post_training and fine_tuning, both of which start from a trained model)"
)
POST_TRAINING = ["fine_tuning", "post_training"]
EO_MODEL = (
    "US Executive Order 14110 (2023, revoked 2025), sec. 4.2(b)(i): any model trained using a quantity of "
    "computing power greater than 1e26 integer or floating-point operations"
)
EO_CLUSTER = (
    "US Executive Order 14110 (2023, revoked 2025), sec. 4.2(b)(ii): a set of machines physically co-located "
    "in a single datacenter, transitively connected by data center networking of over 100 Gbit/s, with a "
    "theoretical maximum of 1e20 integer or floating-point OP/s for training AI (the datacenter_cluster scope: "
    "clusters of one facility networked above 100 Gbit/s)"
)
EU = (
    "EU AI Act (Regulation (EU) 2024/1689), Art. 51(2): a general-purpose AI model is presumed to have high "
    "impact capabilities when the cumulative amount of computation used for its training measured in "
    "floating point operations is greater than 1e25"
)
SINCE = datetime(2025, 1, 1, tzinfo=UTC)
# The margin by which a run's attested compute may pass its declared plan before it is alerted: the registry's
# choice (the draft asks for "an estimate of the total FLOP", Article IV(2), and names no tolerance).
OVER_PLAN_MARGIN = 1.1
REVIEW_WINDOW_DAYS = 30

PRESETS = {
    "draft-treaty": [
        # One rule for the facility, the campus and the linked or jointly run sites: a covered cluster is the
        # connected set (compliance.covered), so one facility, a campus and a network are measured alike.
        dict(
            key="treaty-covered-cluster",
            name="Covered chip cluster",
            legal_reference=MIRI_CLUSTER,
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
            key="treaty-run-review",
            name="Training run to declare and review",
            legal_reference=MIRI_REPORTED,
            metric="run_planned_compute",
            scope="run",
            comparison="gt",
            value=1e22,
            severity="medium",
            effect="review",
            review_days=REVIEW_WINDOW_DAYS,
        ),
        dict(
            key="treaty-run-prohibited",
            name="Prohibited training run (declared)",
            legal_reference=MIRI_PROHIBITED,
            metric="run_planned_compute",
            scope="run",
            comparison="gt",
            value=1e24,
            severity="critical",
            effect="prohibit",
        ),
        dict(
            key="treaty-post-training-prohibited",
            name="Prohibited post-training run (declared)",
            legal_reference=MIRI_POST_PROHIBITED,
            metric="run_planned_compute",
            scope="run",
            run_kinds=POST_TRAINING,
            comparison="gt",
            value=1e23,
            severity="critical",
            effect="prohibit",
        ),
        dict(
            key="treaty-post-training-attested-prohibited",
            name="Prohibited post-training run (attested compute)",
            legal_reference=f"{MIRI_POST_PROHIBITED}; {MIRI_FLOP}",
            metric="run_attested_compute",
            basis="higher",
            scope="run",
            run_kinds=POST_TRAINING,
            comparison="gt",
            value=1e23,
            severity="critical",
        ),
        dict(
            key="treaty-run-attested-prohibited",
            name="Prohibited training run (attested compute)",
            legal_reference=f"{MIRI_PROHIBITED}; {MIRI_FLOP}",
            metric="run_attested_compute",
            basis="higher",
            scope="run",
            comparison="gt",
            value=1e24,
            severity="critical",
        ),
        dict(
            # A model trained past the line in runs each under it: Article II.3 counts any process optimising
            # a model's parameters as training. Not called prohibited (a base run and a permitted fine-tune
            # of it may add up past 1e24): high, for the ISIA to judge whether the runs were one split run.
            key="treaty-model-attested",
            name="Model trained past 1e24 FLOP across its runs",
            legal_reference=f"{MIRI_PROHIBITED}; {MIRI}, Article II.3: a training run is any computational process "
            f"that optimises an AI's parameters; {MIRI_FLOP}. The attested FLOP of every run one operator declared "
            "for one model, summed: splitting a run into declarations under the line does not hide it",
            metric="model_compute",
            basis="higher",
            scope="model",
            comparison="gt",
            value=1e24,
            severity="high",
        ),
        dict(
            key="treaty-run-over-plan",
            name="Training run past its declared compute",
            legal_reference=f"{MIRI_REPORTED}; {MIRI_FLOP}. Margin: attested over planned FLOP above "
            f"{OVER_PLAN_MARGIN:g} (the registry's tolerance; the text names none)",
            metric="run_attested_over_plan",
            basis="higher",
            scope="run",
            comparison="gt",
            value=OVER_PLAN_MARGIN,
            severity="high",
        ),
        dict(
            key="treaty-unexplained-compute-facility",
            name="Compute no declared run explains (facility)",
            legal_reference=f"{MIRI_REPORTED}; {MIRI_FLOP}. Work attributed to no declared run, whatever its label "
            f"but inference, over the {REVIEW_WINDOW_DAYS}-day review window: unexplained, not a prohibited run",
            metric="unattributed_compute",
            basis="higher",
            window_days=REVIEW_WINDOW_DAYS,
            workloads=DEFAULT_UNATTRIBUTED_WORKLOADS,
            scope="facility",
            comparison="gt",
            value=1e22,
            severity="high",
        ),
        dict(
            key="treaty-unexplained-compute-cluster",
            name="Compute no declared run explains (cluster)",
            legal_reference=f"{MIRI_REPORTED}; {MIRI_FLOP}. Work attributed to no declared run, whatever its label "
            f"but inference, over the {REVIEW_WINDOW_DAYS}-day review window: unexplained, not a prohibited run",
            metric="unattributed_compute",
            basis="higher",
            window_days=REVIEW_WINDOW_DAYS,
            workloads=DEFAULT_UNATTRIBUTED_WORKLOADS,
            scope="cluster",
            comparison="gt",
            value=1e22,
            severity="high",
        ),
        dict(
            key="treaty-unexplained-compute-covered-cluster",
            name="Compute no declared run explains (covered chip cluster)",
            legal_reference=f"{MIRI_REPORTED}; {MIRI_FLOP}; {MIRI_CLUSTER}. Work attributed to no declared run, "
            f"whatever its label but inference, over the {REVIEW_WINDOW_DAYS}-day review window, summed over the "
            "facilities of one covered chip cluster (Article V.3: work split over linked sites is one set's)",
            metric="unattributed_compute",
            basis="higher",
            window_days=REVIEW_WINDOW_DAYS,
            workloads=DEFAULT_UNATTRIBUTED_WORKLOADS,
            scope="covered_cluster",
            link_gbps=25,
            comparison="gt",
            value=1e22,
            severity="high",
        ),
    ],
    "us-eo-14110": [
        dict(
            key="us-eo-14110-model",
            name="EO 14110 dual-use foundation model compute",
            legal_reference=EO_MODEL,
            metric="model_compute",
            basis="peak",
            scope="model",
            comparison="gt",
            value=1e26,
            severity="medium",
        ),
        dict(
            key="us-eo-14110-cluster",
            name="EO 14110 computing cluster",
            legal_reference=EO_CLUSTER,
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
            name="EU AI Act systemic-risk model compute",
            legal_reference=EU,
            metric="model_compute",
            basis="peak",
            scope="model",
            comparison="gt",
            value=1e25,
            severity="high",
        ),
    ],
}
# Presets loaded before under names that are gone: their rules are retired by the next load.
FORMER_PRESETS = ("draft-treaty-runs",)


def load(user, names=None):
    """Declare the presets (new rules, or new versions where the figures differ: each a logged
    `threshold.declared`), and retire the rules a preset no longer holds (the facility-wide compute windows
    of earlier versions: a logged `threshold.retired`). Returns the rules declared."""
    from django.utils import timezone

    from compliance.models import ThresholdRule
    from compliance.services import RULE_FIELDS, declare, retire

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
                "workloads": [],
                "run_kinds": [],
                "link_gbps": None,
                "clock_days": None,
                "overdue_severity": "",
                "effective_from": SINCE,
                **spec,
            }
            key = spec.pop("key")
            current = ThresholdRule.objects.filter(key=key, superseded_at__isnull=True).first()
            fields = {**spec, "preset": preset}
            if current is not None:
                if current.effective_to is not None and current.effective_to <= timezone.now():
                    continue  # retired: a reload does not enact it again (its next version would end before it began)
                # The terms, not the date: a next version takes effect when it is declared
                # (compliance.versioning.declare), never at the treaty's date the first one cites.
                fields.pop("effective_from")
                if all(getattr(current, f) == fields.get(f, getattr(current, f)) for f in RULE_FIELDS):
                    continue
            declared.append(declare(user, key, **fields))
    for rule in _dropped(names):
        retire(user, rule)
    return declared


def _dropped(names):
    """The rules in force that a loaded preset (or a former one) declared and no preset holds now."""
    from django.db.models import Q
    from django.utils import timezone

    from compliance.models import ThresholdRule

    kept = {spec["key"] for rules in PRESETS.values() for spec in rules}
    loaded = [p for p in PRESETS if not names or p in names] + list(FORMER_PRESETS)
    return (
        ThresholdRule.objects.current()
        .filter(preset__in=loaded)
        .exclude(key__in=kept)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=timezone.now()))
        .order_by("key")
    )
