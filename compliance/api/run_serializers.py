"""Declared runs in the API: the record with its review state and attested compute, and the declaration."""

import math

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.errors import Invalid
from core.fields import ReasonField
from inventory.api.serializers import OwnFacilityField
from inventory.models import Cluster
from runs.choices import RunKind, RunPrecision
from runs.models import Run


@extend_schema_field({"type": "string", "example": "US-VA-001/pod-a"})
class OwnClusterField(serializers.RelatedField):
    """A cluster the requester operates, as `<facility code>/<cluster code>`. Another party's cluster and
    no cluster get one answer (as OwnFacilityField)."""

    default_error_messages = {"does_not_exist": "You run no cluster {value}.", "invalid": "Invalid value."}

    def __init__(self, **kwargs):
        super().__init__(queryset=Cluster.objects.none(), **kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return Cluster.objects.none()
        return Cluster.objects.restrict(request.user, "change").select_related("facility")

    def to_internal_value(self, data):
        if not isinstance(data, str) or data.count("/") != 1:
            self.fail("invalid")
        facility, code = data.split("/")
        found = self.get_queryset().filter(facility__code=facility, code=code).first()
        if found is None:
            self.fail("does_not_exist", value=data[:140])
        return found

    def to_representation(self, value):
        return f"{value.facility.code}/{value.code}"


class AttestedSerializer(serializers.Serializer):
    """The compute attested for the run so far, summed from the usage statements attributed to it."""

    statements = serializers.IntegerField()
    records = serializers.IntegerField()
    flop_fp16 = serializers.FloatField(help_text="Upper bound, FP16-equivalent (protocol.usage).")
    flop_peak = serializers.FloatField(help_text="Upper bound at each chip's fastest precision.")
    active_s = serializers.FloatField(help_text="Chip-seconds powered and available.")
    energy_j = serializers.FloatField()
    first_day = serializers.DateField(allow_null=True)
    last_day = serializers.DateField(allow_null=True)


EMPTY_ATTESTED = {
    "statements": 0,
    "records": 0,
    "flop_fp16": 0.0,
    "flop_peak": 0.0,
    "active_s": 0.0,
    "energy_j": 0.0,
    "first_day": None,
    "last_day": None,
}


class RunSerializer(serializers.ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="code", read_only=True)
    facilities = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    clusters = serializers.SerializerMethodField()
    declared_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    withdrawn_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    attested = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "code",
            "operator",
            "model_name",
            "kind",
            "planned_flop",
            "precision",
            "facilities",
            "clusters",
            "countries",
            "planned_start",
            "planned_end",
            "description",
            "state",
            "review_due_at",
            "rule_key",
            "rule_version",
            "rule_value",
            "decided_at",
            "decided_by",
            "decision_reason",
            "decision_log_index",
            "withdrawn_at",
            "withdrawn_by",
            "withdrawal_reason",
            "declared_at",
            "declared_by",
            "log_index",
            "attested",
        ]
        read_only_fields = fields

    def get_clusters(self, run) -> list[str]:
        return sorted(f"{c.facility.code}/{c.code}" for c in run.clusters.all())

    @extend_schema_field(AttestedSerializer)
    def get_attested(self, run):
        return {**EMPTY_ATTESTED, **self.context.get("attested", {}).get(run.pk, {})}


class PlannedFlopField(serializers.FloatField):
    """A run's planned compute: a JSON number, finite, above 0, and one a double holds exactly (an integer beyond
    2^53 that it does not would be stored and logged as another number). Anything else is the declaration's own
    refusal, 400 `invalid_planned_flop`, as the service's for 0 or a negative number (a string, 1e400 or such an
    integer answered the field's `invalid`)."""

    def to_internal_value(self, data):
        exact = isinstance(data, float) or (isinstance(data, int) and not isinstance(data, bool) and _exact(data))
        if not exact or not math.isfinite(data):
            raise Invalid(
                "planned_flop: a positive number of operations, as a JSON number a double holds exactly.",
                code="invalid_planned_flop",
            )
        return float(data)


def _exact(n):
    try:
        return int(float(n)) == n
    except OverflowError:
        return False


class RunDeclarationSerializer(serializers.Serializer):
    """A declaration, before the run starts. `facilities` and `clusters`: your own, by code (at least one)."""

    model_name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=RunKind.choices)
    planned_flop = PlannedFlopField(help_text="Planned operations (FLOP), > 0 (else `invalid_planned_flop`).")
    precision = serializers.ChoiceField(choices=RunPrecision.choices)
    facilities = serializers.ListField(child=OwnFacilityField(), required=False, default=list, max_length=1000)
    clusters = serializers.ListField(
        child=OwnClusterField(), required=False, default=list, max_length=1000, help_text="`<facility>/<cluster>`."
    )
    planned_start = serializers.DateTimeField()
    planned_end = serializers.DateTimeField()
    description = serializers.CharField(max_length=20000, help_text="The code and data the run uses.")


class DecisionSerializer(serializers.Serializer):
    reason = ReasonField(due="object", max_length=5000)
