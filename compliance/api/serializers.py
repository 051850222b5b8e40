from rest_framework import serializers

from compliance.choices import CAPACITY_ONLY_SCOPES, COMPONENT_SCOPES, Comparison, Metric, Precision, Scope, Severity
from compliance.models import Aggregate, Alert, AlertEvidence, AlertTransition, ThresholdRule


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
    basis = serializers.ChoiceField(choices=["fp16", "peak"], required=False, default="fp16")
    scope = serializers.ChoiceField(choices=Scope.choices)
    comparison = serializers.ChoiceField(choices=Comparison.choices)
    value = serializers.FloatField(min_value=0)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.HIGH)
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
    effective_from = serializers.DateTimeField()
    effective_to = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        metric, scope = attrs.get("metric"), attrs.get("scope")
        if metric == Metric.PEAK_OPS and not attrs.get("precision"):
            raise serializers.ValidationError({"precision": "peak_ops needs a precision."})
        if metric == Metric.COMPUTE and not attrs.get("window_days"):
            raise serializers.ValidationError({"window_days": "compute_window needs a window in days."})
        if metric == Metric.COMPUTE and scope in CAPACITY_ONLY_SCOPES:
            raise serializers.ValidationError({"metric": f"{scope} is measured by capacity, not compute windows."})
        if attrs.get("link_gbps") is not None and scope not in COMPONENT_SCOPES:
            raise serializers.ValidationError({"link_gbps": "Only covered_cluster and datacenter_cluster rules."})
        if attrs.get("overdue_severity") and not attrs.get("clock_days"):
            raise serializers.ValidationError({"overdue_severity": "An escalation needs a clock (clock_days)."})
        start, end = attrs.get("effective_from"), attrs.get("effective_to")
        if start and end and end <= start:
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


class AlertEvidenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertEvidence
        fields = [
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
        ]


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

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "evidence", "transitions"]


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=3, max_length=5000)
