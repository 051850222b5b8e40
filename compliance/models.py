"""Threshold rules (versioned), stored aggregates per subject, alerts with frozen evidence."""

import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import DateTimeField, Exists, OuterRef, Q, Value
from django.db.models.functions import Cast, Greatest

from attestations.bases import Basis
from compliance.choices import (
    CAPACITY_ONLY_SCOPES,
    COMPONENT_SCOPES,
    AlertKind,
    AlertState,
    Comparison,
    Effect,
    Metric,
    Precision,
    Scope,
    Severity,
)
from core.querysets import RestrictedQuerySet
from registry.choices import OrgKind
from runs.models import Run


class RuleQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Rules in force are public law; only treaty bodies declare them.
        if action == "view":
            return self
        return self if org.kind == OrgKind.TREATY_BODY else self.none()

    def current(self):
        return self.filter(superseded_at__isnull=True)

    def in_force(self, when):
        """The versions in force at `when`: of each key, the latest version that has taken effect by then,
        unless retired by then. A version declared to take effect later does not suspend the one before it
        (which is superseded at once, as the current version): that one governs until its successor takes
        effect or is retired, so scheduling a change never leaves a window with no rule in force."""
        return self.in_force_during(when, when)

    def in_force_during(self, start, end):
        """The versions in force at some time from `start` to `end`, as declared now: those in_force(start), and
        those scheduled to take effect by `end` (a later version, or one retired, ends a version's time at its
        own start or retirement, so a version taken over before it began is never in force)."""
        begins = Greatest(Value(start, output_field=DateTimeField()), OuterRef("effective_from"))
        taken_over = self.model.objects.filter(key=OuterRef("key"), version__gt=OuterRef("version")).filter(
            Q(effective_from__lte=begins) | Q(effective_to__lte=begins)
        )
        return (
            self.filter(effective_from__lte=end)
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=start))
            .exclude(Exists(taken_over))
        )


class VersionedRule(models.Model):
    """What every rule declared in versions has (compliance.versioning): a stable key, its version, the
    period it is in force, who declared it and its log event; readable by all, declared by the treaty body
    (RuleQuerySet). The concrete rule names its own constraints."""

    key = models.SlugField(max_length=100, help_text="Stable across versions.")
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=200)
    legal_reference = models.TextField(blank=True, default="")
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    log_index = models.BigIntegerField(null=True, blank=True)

    objects = RuleQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["key", "version"]

    def __str__(self):
        return f"{self.key} v{self.version}"


class ThresholdRule(VersionedRule):
    """One version of a rule. A change creates a new version; old alerts keep theirs."""

    metric = models.CharField(max_length=32, choices=Metric.choices)
    precision = models.CharField(max_length=8, choices=Precision.choices, blank=True, default="")
    window_days = models.PositiveIntegerField(null=True, blank=True)
    basis = models.CharField(
        max_length=8,
        choices=Basis.choices,
        blank=True,
        default=Basis.FP16,
        help_text="What compute_window counts (attestations/bases.py): fp16, peak, or higher (the draft "
        "agreement's FP16-equivalent or actual operations, whichever is higher).",
    )
    scope = models.CharField(max_length=20, choices=Scope.choices)
    comparison = models.CharField(max_length=2, choices=Comparison.choices)
    value = models.FloatField()
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.HIGH)
    effect = models.CharField(max_length=8, choices=Effect.choices, default=Effect.ALERT)
    review_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Review rules: silence this long after a declaration counts as approval."
    )
    workloads = models.JSONField(
        default=list,
        blank=True,
        help_text="unattributed_compute: the workloads counted (compliance.choices.Workload); declared with none: "
        "every one but inference.",
    )
    run_kinds = models.JSONField(
        default=list,
        blank=True,
        help_text="Rules on runs: the kinds of run judged (runs.choices.RunKind); empty: every kind.",
    )
    # Covered-cluster scopes: sites are joined by links above this bandwidth (Gbit/s; null: the scope's
    # default, compliance.covered.DEFAULT_GBPS).
    link_gbps = models.FloatField(null=True, blank=True)
    # A clock: an alert of this rule is due to be cleared within this many days of its first crossing;
    # past that it escalates to `overdue_severity` (blank: one step up).
    clock_days = models.PositiveIntegerField(null=True, blank=True)
    overdue_severity = models.CharField(max_length=8, choices=Severity.choices, blank=True, default="")
    preset = models.CharField(max_length=64, blank=True, default="")

    class Meta(VersionedRule.Meta):
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="rule_version_once"),
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(superseded_at__isnull=True), name="one_current_version"
            ),
        ]

    def judges_kind(self, kind):
        """Whether this rule judges a run of this kind (a rule naming no kinds judges every run)."""
        return not self.run_kinds or kind in self.run_kinds

    def clean(self):
        # Whatever declares it (the API, a preset, a shell): a rule its scope cannot measure never reaches
        # an evaluation.
        if self.metric == Metric.COMPUTE and self.scope in CAPACITY_ONLY_SCOPES:
            raise ValidationError({"metric": f"{self.scope} is measured by capacity, not compute windows."})
        if self.link_gbps is not None and self.scope not in COMPONENT_SCOPES:
            raise ValidationError({"link_gbps": "Only covered_cluster and datacenter_cluster rules join sites."})
        if self.overdue_severity and not self.clock_days:
            raise ValidationError({"overdue_severity": "An escalation needs a clock (clock_days)."})

    def crosses(self, value):
        return value > self.value if self.comparison == Comparison.GT else value >= self.value


class AggregateQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        # Totals of what the party sees: an operator its own, an inspectorate its jurisdictions, a manufacturer
        # those of the chips it holds (its operator-country rows: the chips it registered, while in its custody),
        # the treaty body all. Computed by the registry, never changed by a party.
        from inventory.access import scope_q

        if action != "view":
            return self.none()
        return self.filter(
            scope_q(org, operator_paths=["operator"], country_paths=["country"], manufacturer_paths=["operator"])
        )


class Aggregate(models.Model):
    """Stored totals per subject, so pages and the API read them without summing.

    subject_key: a facility/cluster/campus pk as text, or `<operator pk>:<CC>`.
    """

    scope = models.CharField(max_length=20, choices=Scope.choices)
    subject_key = models.CharField(max_length=64)
    label = models.CharField(max_length=200, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")
    operator = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, null=True, related_name="+")
    chip_count = models.BigIntegerField(default=0)
    tpp = models.FloatField(default=0)
    h100e = models.FloatField(default=0)
    memory_gb = models.FloatField(default=0)
    # Dense peak OP/s (in tera) summed per precision; "fastest" is each chip's best.
    ops = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AggregateQuerySet.as_manager()

    class Meta:
        # One row per (scope, subject_key): that pair is the table's primary key in the database
        # (migration 0007_aggregate_subject_key), which evaluation's upserts name (ON CONFLICT), and the
        # key includes the column the table is distributed by (docs/scaling.md). The ORM keeps id as its
        # key (unique by its sequence; nothing refers to an aggregate by id), indexed for the lists'
        # keyset pages.
        ordering = ["id"]
        indexes = [
            models.Index(fields=["scope", "country"], name="aggregate_country_idx"),
            models.Index(fields=["id"], name="aggregate_id_idx"),
        ]


class AlertQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        from inventory.access import scope_q

        # A manufacturer holds chips before it sells them and takes them back: an alert about its own holding
        # (its `operator`) is its to read and answer, as an operator's is (README: who may do what).
        q = scope_q(
            org, operator_paths=["operator"], country_paths=["country"], manufacturer_paths=["operator"], action="view"
        )
        if org.kind == OrgKind.INSPECTORATE:
            # An alert on a run is the business of every inspectorate that sees the run: one declared at
            # facilities in several countries is on each one's territory, and the row holds one country. So is
            # an alert on a model, for every inspectorate that sees one of its runs (the row holds the first
            # country of them; its log event is readable in each: compliance.run_metrics.countries).
            q |= Q(scope=Scope.RUN, subject_key__in=_run_keys(user, org))
            q |= Q(scope=Scope.MODEL, subject_key__in=_model_keys(user, org))
        return self.filter(q)


def _run_keys(user, org):
    """The subject keys (run pks as text) of the runs an inspectorate sees."""
    return Run.objects.restrict_for(user, org, "view").annotate(key=Cast("pk", models.CharField())).values("key")


def _model_keys(user, org):
    """The subject keys of the models of the runs an inspectorate sees (a model's key folds its name in
    Python: compliance.run_metrics.model_key)."""
    from compliance.run_metrics import model_key

    visible = Run.objects.restrict_for(user, org, "view").values_list("operator_id", "model_name").distinct()
    return sorted({model_key(operator_id, name) for operator_id, name in visible})


class Alert(models.Model):
    """One alert per (rule version, subject), or per (finding group, subject). Reopened, never duplicated."""

    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    rule = models.ForeignKey(ThresholdRule, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts")
    # For finding alerts: "<finding kind>:<source>:<source_id>"; for thresholds: "rule:<pk>".
    group = models.CharField(max_length=160)
    scope = models.CharField(max_length=20, choices=Scope.choices)
    subject_key = models.CharField(max_length=64)
    subject_label = models.CharField(max_length=200)
    facility = models.ForeignKey(
        "inventory.Facility", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    operator = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, null=True, related_name="+")
    country = models.CharField(max_length=2, blank=True, default="")
    severity = models.CharField(max_length=8, choices=Severity.choices)
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.OPEN)
    title = models.CharField(max_length=300)
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    raised_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when an evaluation sees the subject below the threshold again: a
    # later crossing then reopens a resolved or dismissed alert.
    cleared_at = models.DateTimeField(null=True, blank=True)
    reopened = models.PositiveIntegerField(default=0)
    log_index = models.BigIntegerField(null=True, blank=True)
    # A rule with a clock: when the subject must be back under the line (first crossing + clock_days; a
    # reopening keeps it, so leaving and coming back buys no time), and when the alert escalated for it.
    due_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "scope", "subject_key"], name="one_alert_per_subject"),
        ]
        indexes = [
            models.Index(fields=["state", "severity"], name="alert_state_idx"),
            models.Index(fields=["country", "id"], name="alert_country_idx"),
        ]


# The SHA-256 of an empty chip list: the evidence of an alert that counts no chips (a run's plan, a challenge's
# step, an overdue answer) still names the hash of its list (LOG.md 5), which a verifier checks as any other.
EMPTY_CHIPS_SHA256 = hashlib.sha256(b"").hexdigest()


class AlertEvidence(models.Model):
    """Frozen at raise (and reopen) time: never updated afterwards."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="evidence")
    at = models.DateTimeField(auto_now_add=True)
    value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    comparison = models.CharField(max_length=2, blank=True, default="")
    chip_count = models.BigIntegerField(default=0)
    chips_sha256 = models.CharField(max_length=64, default=EMPTY_CHIPS_SHA256)
    chips = models.TextField(blank=True, default="", help_text="The chips counted, one public id per line, sorted.")
    sources = models.JSONField(default=list, help_text="The statements and log entries that put them there.")
    findings = models.JSONField(default=list)
    # A checkpoint whose tree includes every log index the sources name (compliance.evidence),
    # and the inclusion proof of each against it: the evidence proves itself (LOG.md section 5).
    checkpoint_size = models.BigIntegerField(null=True, blank=True)
    checkpoint = models.TextField(blank=True, default="", help_text="The checkpoint's signed note.")
    inclusion = models.JSONField(
        default=list, help_text='[{"log_index": i, "hashes": [base64, ...]}]: RFC 9162 proofs at checkpoint_size.'
    )

    class Meta:
        ordering = ["id"]


class AlertTransition(models.Model):
    """Who moved an alert, when, from which state to which, and why."""

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="transitions")
    at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=16, blank=True, default="")
    to_state = models.CharField(max_length=16)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    reason = models.TextField(blank=True, default="")
    log_index = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]


class SubscriptionQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, org, action):
        return self.filter(organisation=org)


class Subscription(models.Model):
    """A treaty body's or inspectorate's standing order for alerts: by severity and jurisdiction."""

    organisation = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="subscriptions")
    name = models.CharField(max_length=200, blank=True, default="")
    min_severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.HIGH)
    countries = models.JSONField(default=list, blank=True, help_text="Empty: every country the subscriber may see.")
    webhook_url = models.URLField(max_length=500, blank=True, default="")
    # Standard Webhooks symmetric secret ("whsec_" + base64), shown once at creation.
    secret = models.CharField(max_length=200, blank=True, default="")
    email = models.EmailField(blank=True, default="")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["id"]


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead letter"


class Delivery(models.Model):
    """One message (alert event) to one subscription. `webhook_id` is the idempotency key receivers dedupe on."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="deliveries")
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="deliveries")
    event = models.CharField(max_length=32)  # alert.raised, alert.reopened, ...
    # The alert's reopen count when this was sent: a second reopening is a new message.
    sequence = models.PositiveIntegerField(default=0)
    webhook_id = models.CharField(max_length=64, unique=True)
    payload = models.JSONField()
    channel = models.CharField(max_length=8, default="webhook")  # webhook or email
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "alert", "event", "sequence", "channel"], name="deliver_once"
            ),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="delivery_due_idx")]


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # How many bytes the receiver answered (read up to transport.MAX_RESPONSE_BYTES); never their content.
    response_bytes = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="", help_text="The registry's own account of a failure.")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]


# Answers, clarification requests and decisions live in their own module; imported here so Django loads them.
from compliance.dispute_models import (  # noqa: E402, F401
    Answer,
    AnswerAttachment,
    AnswerDecision,
    ClarificationRequest,
)
from compliance.export_models import DestinationRule  # noqa: E402, F401
