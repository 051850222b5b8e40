from django.utils import timezone
from rest_framework import serializers

from attestations.bases import Basis
from compliance.api.dispute_serializers import AnswerSerializer, ClarificationSerializer
from compliance.choices import (
    COMPONENT_SCOPES,
    DEFAULT_UNATTRIBUTED_WORKLOADS,
    METRIC_SCOPES,
    WINDOW_METRICS,
    Comparison,
    Effect,
    Metric,
    Precision,
    Scope,
    Severity,
    Workload,
)
from compliance.models import Aggregate, Alert, AlertEvidence, AlertTransition, ThresholdRule
from core.fields import ReasonField
from runs.choices import RunKind


class ThresholdRuleSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    key = serializers.SlugField(max_length=100)

    class Meta:
        model = ThresholdRule
        fields = [
            "id",
            "key",
            "version",
            "name",
            "legal_reference",
            "metric",
            "precision",
            "window_days",
            "basis",
            "scope",
            "comparison",
            "value",
            "severity",
            "effect",
            "review_days",
            "workloads",
            "run_kinds",
            "link_gbps",
            "clock_days",
            "overdue_severity",
            "effective_from",
            "effective_to",
            "preset",
            "created_by",
            "created_at",
            "superseded_at",
            "log_index",
        ]
        read_only_fields = ["version", "preset", "created_at", "superseded_at", "log_index"]


class RuleInputSerializer(serializers.Serializer):
    """A declaration or a change: a change names only what differs and makes a new version."""

    name = serializers.CharField(max_length=200)
    legal_reference = serializers.CharField(required=False, allow_blank=True, default="")
    metric = serializers.ChoiceField(choices=Metric.choices)
    precision = serializers.ChoiceField(choices=Precision.choices, required=False, allow_blank=True, default="")
    window_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3650, default=None)
    basis = serializers.ChoiceField(
        choices=Basis.choices,
        required=False,
        default=Basis.FP16,
        help_text="What compute_window counts: `fp16` (FP16-equivalent), `peak` (the chip's fastest precision), "
        "`higher` (FP16-equivalent or actual operations, whichever is higher: the draft agreement's count).",
    )
    scope = serializers.ChoiceField(choices=Scope.choices)
    comparison = serializers.ChoiceField(choices=Comparison.choices)
    value = serializers.FloatField(min_value=0)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.HIGH)
    effect = serializers.ChoiceField(
        choices=Effect.choices,
        default=Effect.ALERT,
        help_text="review, prohibit: what a run declared above the rule becomes (run_planned_compute only).",
    )
    review_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=3650,
        default=None,
        help_text="Review rules: silence this long after a declaration counts as approval.",
    )
    workloads = serializers.ListField(
        child=serializers.ChoiceField(choices=Workload.choices),
        required=False,
        allow_empty=True,
        max_length=len(Workload.values),
        default=list,
        help_text="unattributed_compute only: the workloads counted (`unlabelled`: statements that name none). "
        f"Default: {', '.join(DEFAULT_UNATTRIBUTED_WORKLOADS)}.",
    )
    run_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=RunKind.choices),
        required=False,
        allow_empty=True,
        max_length=len(RunKind.values),
        default=list,
        help_text="Rules on runs only: the kinds of run the rule judges (empty: every kind).",
    )
    link_gbps = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=1e9,
        help_text="covered_cluster and datacenter_cluster: sites are joined by links above this (Gbit/s); "
        "null: 25 and 100.",
    )
    clock_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=3650,
        help_text="An alert is due to clear within this many days of the first crossing, else it escalates.",
    )
    overdue_severity = serializers.ChoiceField(
        choices=Severity.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="What an overdue alert escalates to (blank: one step up).",
    )
    effective_from = serializers.DateTimeField(
        required=False,
        help_text="When this version takes effect. None given: at once (a next version: at once, or at the "
        "current version's start where that is still to come).",
    )
    effective_to = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        metric, scope = attrs.get("metric"), attrs.get("scope")
        if metric == Metric.PEAK_OPS and not attrs.get("precision"):
            raise serializers.ValidationError({"precision": "peak_ops needs a precision."})
        if metric in WINDOW_METRICS and not attrs.get("window_days"):
            raise serializers.ValidationError({"window_days": f"{metric} needs a window in days."})
        if attrs.get("scope") not in METRIC_SCOPES.get(metric, ()):
            scopes = ", ".join(METRIC_SCOPES.get(metric, ()))
            raise serializers.ValidationError({"scope": f"{metric} is judged on: {scopes}."})
        if attrs.get("workloads") and metric != Metric.UNATTRIBUTED:
            raise serializers.ValidationError({"workloads": "Only unattributed_compute counts by workload."})
        if attrs.get("run_kinds") and attrs.get("scope") != Scope.RUN:
            raise serializers.ValidationError({"run_kinds": "Only rules on runs judge by kind."})
        if metric == Metric.UNATTRIBUTED:
            attrs["workloads"] = sorted(set(attrs.get("workloads") or DEFAULT_UNATTRIBUTED_WORKLOADS))
        run_rule = metric == Metric.RUN_PLANNED
        effect = attrs.get("effect", Effect.ALERT)
        if run_rule != (effect in (Effect.REVIEW, Effect.PROHIBIT)):
            raise serializers.ValidationError({"effect": "run_planned_compute rules review or prohibit runs."})
        if effect == Effect.REVIEW and not attrs.get("review_days"):
            raise serializers.ValidationError({"review_days": "A review rule needs its review period in days."})
        if attrs.get("link_gbps") is not None and scope not in COMPONENT_SCOPES:
            raise serializers.ValidationError({"link_gbps": "Only covered_cluster and datacenter_cluster rules."})
        if attrs.get("overdue_severity") and not attrs.get("clock_days"):
            raise serializers.ValidationError({"overdue_severity": "An escalation needs a clock (clock_days)."})
        start, end = attrs.get("effective_from") or timezone.now(), attrs.get("effective_to")
        if end and end <= start:
            raise serializers.ValidationError({"effective_to": "must be after effective_from."})
        return attrs


class RuleDeclarationSerializer(RuleInputSerializer):
    """A declaration: the rule's stable `key` (a new key starts at version 1, a known one makes the next
    version), and its terms."""

    key = serializers.SlugField(max_length=100, help_text="Stable across versions.")


class AggregateSerializer(serializers.ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Aggregate
        fields = [
            "scope",
            "subject_key",
            "label",
            "country",
            "operator",
            "chip_count",
            "tpp",
            "h100e",
            "memory_gb",
            "ops",
            "updated_at",
        ]


class EvidenceProofSerializer(serializers.Serializer):
    log_index = serializers.IntegerField()
    hashes = serializers.ListField(child=serializers.CharField(), help_text="Base64 hashes, from the leaf upward.")


class AlertEvidenceSerializer(serializers.ModelSerializer):
    inclusion = EvidenceProofSerializer(
        many=True,
        read_only=True,
        help_text="The RFC 9162 inclusion proof of each log index the sources name, at checkpoint_size.",
    )

    class Meta:
        model = AlertEvidence
        fields = [
            "id",
            "at",
            "value",
            "threshold",
            "comparison",
            "chip_count",
            "chips_sha256",
            "sources",
            "findings",
            "checkpoint_size",
            "checkpoint",
            "inclusion",
        ]
        extra_kwargs = {
            "checkpoint_size": {"help_text": "The size of a checkpoint whose tree includes every source's log index."},
        }


class EvidenceSourceSerializer(serializers.Serializer):
    source = serializers.CharField()
    id = serializers.CharField()
    log_index = serializers.IntegerField(allow_null=True)


class BundleAlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField()
    rule = serializers.CharField(allow_null=True)
    scope = serializers.CharField()
    subject = serializers.CharField()
    country = serializers.CharField(allow_blank=True)
    operator = serializers.CharField(allow_null=True)
    severity = serializers.CharField()
    raised_at = serializers.DateTimeField()
    log_index = serializers.IntegerField(allow_null=True)


class BundleEvidenceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    value = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    comparison = serializers.CharField(allow_blank=True)
    chip_count = serializers.IntegerField()
    chips_sha256 = serializers.CharField(allow_blank=True)
    sources = EvidenceSourceSerializer(many=True)
    findings = serializers.ListField(child=serializers.IntegerField())


class BundleEntrySerializer(serializers.Serializer):
    log_index = serializers.IntegerField()
    leaf = serializers.CharField(help_text="Base64 of the leaf bytes (LOG.md section 2).")
    inclusion = serializers.ListField(child=serializers.CharField(), help_text="Base64 hashes, from the leaf upward.")
    data_jcs = serializers.CharField(
        required=False, help_text="An event's data, its JCS text (only where the caller may read the event's data)."
    )


class EvidenceBundleSerializer(serializers.Serializer):
    """LOG.md section 5: an alert's evidence with what proves it offline (schema only)."""

    type = serializers.ChoiceField(choices=["alert-evidence"])
    v = serializers.ChoiceField(choices=[1])
    alert = BundleAlertSerializer()
    evidence = BundleEvidenceSerializer()
    tree_size = serializers.IntegerField(allow_null=True)
    checkpoint = serializers.CharField(allow_blank=True, help_text="The signed note (with witnesses' cosignatures).")
    entries = BundleEntrySerializer(many=True)


class AlertTransitionSerializer(serializers.ModelSerializer):
    by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AlertTransition
        fields = ["at", "from_state", "to_state", "by", "reason", "log_index"]


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.SerializerMethodField()
    facility = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    operator = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "kind",
            "rule",
            "group",
            "scope",
            "subject_key",
            "subject_label",
            "facility",
            "operator",
            "country",
            "severity",
            "state",
            "title",
            "value",
            "threshold",
            "raised_at",
            "updated_at",
            "cleared_at",
            "reopened",
            "log_index",
            "due_at",
            "escalated_at",
        ]

    def get_rule(self, obj) -> dict | None:
        if obj.rule_id is None:
            return None
        return {"id": obj.rule_id, "key": obj.rule.key, "version": obj.rule.version, "name": obj.rule.name}


class AlertDetailSerializer(AlertSerializer):
    evidence = AlertEvidenceSerializer(many=True, read_only=True)
    transitions = AlertTransitionSerializer(many=True, read_only=True)
    # What the party concerned answered and was asked (compliance.disputes), as far as the reader sees.
    answers = AnswerSerializer(many=True, read_only=True)
    clarifications = ClarificationSerializer(many=True, read_only=True)

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "evidence", "transitions", "answers", "clarifications"]


class ReasonSerializer(serializers.Serializer):
    reason = ReasonField(min_length=3, max_length=5000)
