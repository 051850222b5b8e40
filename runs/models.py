"""Declared training runs, and the compute attested for them.

A **run** is an operator's declaration, before it starts, of a training or
post-training run: the model, the kind, the planned FLOP and precision, the
facilities and clusters it will use, its planned dates and a description of
its code and data (the draft agreement, Article IV). The declaration is
evidence: it is never deleted or edited; what changes is its review state and,
if the operator calls it off, its withdrawal.

States (runs.choices.RunState) and who writes them:

- at declaration, the treaty body's declared rules classify it
  (compliance.run_review, through runs.services.declare): planned compute above
  a rule whose effect is ``prohibit`` -> ``prohibited`` (and a critical alert at
  once); above a rule whose effect is ``review`` -> ``under_review`` with
  ``review_due_at`` = declared_at + the rule's review period; otherwise
  ``below_threshold`` (recorded, no review). The rule that classified it is
  kept by value (``rule_key``, ``rule_version``, ``rule_value``): compliance is
  a higher layer, and a later version of the rule does not reclassify it.
- ``under_review`` -> ``approved`` or ``objected``: a treaty body's decision
  (``decided_by``, ``decided_at``, ``decision_reason``).
- ``under_review`` -> ``approved_by_silence``: the periodic review sweep, once
  ``review_due_at`` has passed with no decision (``decided_by`` stays empty).
- no other transition exists: ``prohibited``, ``approved``,
  ``approved_by_silence``, ``objected`` and ``below_threshold`` are final.
- ``withdrawn_at`` (by the operator, before the planned start and before any work is attributed to it;
  work reported for it afterwards is a finding, not attributed) is not a state:
  a withdrawn prohibited run stays prohibited, and a withdrawn run under review
  is no longer approved by silence.

Every one of these writes goes through runs.services (the one writer of run
rows) and appends a log event in the same transaction (runs.log_events).

**Attested compute**: usage statements that name a run (ATTESTATION.md 3.2
``run``) and pass its checks (the run exists, is the speaker's, was not
withdrawn, was declared before the period began, and declared the statement's
facility or a cluster in it) have their usage records attributed to it
(attestations.UsageRecord.run). RunUsageDay keeps their totals per run,
facility and UTC day of period start, on every estimator basis the usage
records carry, folded in by the statement's own transaction
(runs.storage.add_usage), so a run's attested compute is a sum over a few rows
per day, never over the per-chip records.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from core.querysets import RestrictedQuerySet
from registry.choices import OrgKind
from runs.choices import RunKind, RunPrecision, RunState


class RunQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # The operator its own (and only its own to withdraw); an inspectorate the runs with a facility or a
        # cluster in its jurisdictions, read only; the treaty body all (and decides on them).
        if org.kind == OrgKind.OPERATOR:
            return self.filter(operator=org)
        if org.kind == OrgKind.TREATY_BODY:
            return self
        if org.kind == OrgKind.INSPECTORATE and action == "view":
            return self.filter(pk__in=_in_countries(org.jurisdictions or []))
        return self.none()

    def awaiting_review(self):
        return self.filter(state=RunState.UNDER_REVIEW, withdrawn_at__isnull=True)


class Run(models.Model):
    code = models.CharField(max_length=64, unique=True, help_text="Public id (random), named by usage statements.")
    operator = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="runs")
    model_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=RunKind.choices)
    planned_flop = models.FloatField(validators=[MinValueValidator(0)])
    precision = models.CharField(max_length=8, choices=RunPrecision.choices)
    facilities = models.ManyToManyField("inventory.Facility", blank=True, related_name="runs")
    clusters = models.ManyToManyField("inventory.Cluster", blank=True, related_name="runs")
    # Countries of the declared facilities and clusters when declared (readers of its log events).
    countries = models.JSONField(default=list)
    planned_start = models.DateTimeField()
    planned_end = models.DateTimeField()
    description = models.TextField(help_text="The code and data the run uses, as the declaring article asks.")
    state = models.CharField(max_length=20, choices=RunState.choices)
    review_due_at = models.DateTimeField(null=True, blank=True)
    # The rule that classified the declaration, by value (compliance is a higher layer).
    rule_key = models.CharField(max_length=100, blank=True, default="")
    rule_version = models.PositiveIntegerField(null=True, blank=True)
    rule_value = models.FloatField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_reason = models.TextField(blank=True, default="")
    decision_log_index = models.BigIntegerField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    withdrawal_reason = models.TextField(blank=True, default="")
    declared_at = models.DateTimeField()
    declared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    log_index = models.BigIntegerField(null=True, blank=True, help_text="The declaration's log entry.")

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(planned_end__gt=models.F("planned_start")), name="run_ends_after_start"),
            models.CheckConstraint(condition=Q(planned_flop__gte=0), name="run_planned_flop_not_negative"),
        ]
        indexes = [
            models.Index(fields=["operator", "id"], name="run_operator_idx"),
            # The review queue and the silence sweep read only the runs awaiting review.
            models.Index(
                fields=["review_due_at", "id"], condition=Q(state=RunState.UNDER_REVIEW), name="run_review_due_idx"
            ),
        ]

    def __str__(self):
        return self.code


def _in_countries(countries):
    """Runs with a declared facility, or a declared cluster's facility, in these countries (as of now: a
    facility that changes country takes its runs with it)."""
    return Run.objects.filter(
        Q(pk__in=Run.facilities.through.objects.filter(facility__country__in=countries).values("run_id"))
        | Q(pk__in=Run.clusters.through.objects.filter(cluster__facility__country__in=countries).values("run_id"))
    ).values("pk")


class RunUsageDayQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Whoever sees the run sees its totals (they are the operator's own statements about it).
        return self.filter(run__in=Run.objects.restrict_for(user, org, "view"))


class RunUsageDay(models.Model):
    """The attested compute of one run at one facility, summed over the usage records whose period starts on
    `day` (UTC). Written only by runs.storage.add_usage, in the usage statement's transaction."""

    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="usage_days")
    facility = models.ForeignKey("inventory.Facility", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    statements = models.BigIntegerField(default=0)
    records = models.BigIntegerField(default=0)
    # Upper-bound FLOP on each basis of attestations.UsageRecord (protocol.usage).
    flop_fp16 = models.FloatField(default=0)
    flop_peak = models.FloatField(default=0)
    active_s = models.FloatField(default=0)
    energy_j = models.FloatField(default=0)

    objects = RunUsageDayQuerySet.as_manager()

    class Meta:
        ordering = ["run", "day", "facility"]
        constraints = [models.UniqueConstraint(fields=["run", "facility", "day"], name="run_usage_day_once")]
