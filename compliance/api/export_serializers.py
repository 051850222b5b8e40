"""Export authorisations and destination rules, on the wire."""

from django.utils import timezone
from rest_framework import serializers

from compliance.export_models import DestinationRule
from core.countries import country_codes
from core.fields import ReasonField
from inventory.models import ExportAuthorisation
from registry.models import Organisation


def _countries(values):
    bad = [v for v in values if v not in country_codes()]
    if bad:
        raise serializers.ValidationError(f"Not ISO 3166-1 alpha-2 country codes: {', '.join(map(str, bad[:5]))}.")
    return sorted(set(values))


class DestinationRuleSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    destinations = serializers.ListField(child=serializers.CharField(max_length=2))
    origins = serializers.ListField(child=serializers.CharField(max_length=2))
    chip_models = serializers.ListField(child=serializers.CharField(max_length=100))

    class Meta:
        model = DestinationRule
        fields = [
            "id",
            "key",
            "version",
            "name",
            "legal_reference",
            "destinations",
            "origins",
            "chip_models",
            "min_tpp",
            "effective_from",
            "effective_to",
            "created_by",
            "created_at",
            "superseded_at",
            "log_index",
        ]


class DestinationRuleDeclarationSerializer(serializers.Serializer):
    """A declaration: a new `key` starts at version 1, a known one makes the next version (superseding it)."""

    key = serializers.SlugField(max_length=100, help_text="Stable across versions.")
    name = serializers.CharField(max_length=200)
    legal_reference = serializers.CharField(required=False, allow_blank=True, default="")
    destinations = serializers.ListField(
        child=serializers.CharField(max_length=2), min_length=1, max_length=300, help_text="Forbidden destinations."
    )
    origins = serializers.ListField(
        child=serializers.CharField(max_length=2),
        required=False,
        default=list,
        max_length=300,
        help_text="Exporting countries bound; empty: all.",
    )
    chip_models = serializers.ListField(
        child=serializers.SlugField(max_length=100),
        required=False,
        default=list,
        max_length=1000,
        help_text="Accelerator model slugs bound; empty: all.",
    )
    min_tpp = serializers.FloatField(required=False, allow_null=True, min_value=0, default=None)
    effective_from = serializers.DateTimeField(
        required=False,
        help_text="When this version takes effect. None given: at once (a next version: at once, or at the "
        "current version's start where that is still to come).",
    )
    effective_to = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate_destinations(self, value):
        return _countries(value)

    def validate_origins(self, value):
        return _countries(value)

    def validate_chip_models(self, value):
        # As its countries are: a slug the catalog does not have would be a logged rule that forbids nothing.
        from registry.models import AcceleratorModel

        bad = sorted(set(value) - set(AcceleratorModel.objects.filter(slug__in=value).values_list("slug", flat=True)))
        if bad:
            raise serializers.ValidationError(f"No accelerator model {', '.join(bad[:5])} in the catalog (`models/`).")
        return sorted(set(value))

    def validate(self, attrs):
        if attrs.get("effective_to") and attrs["effective_to"] <= (attrs.get("effective_from") or timezone.now()):
            raise serializers.ValidationError({"effective_to": ["Must be after effective_from."]})
        return attrs


class ExportAuthorisationSerializer(serializers.ModelSerializer):
    exporter = serializers.SlugRelatedField(slug_field="code", read_only=True)
    receiver = serializers.SlugRelatedField(slug_field="code", read_only=True)
    origin_facility = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    destination_facility = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    decided_by_organisation = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    revoked_by_organisation = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    chip_models = serializers.ListField(child=serializers.CharField(), read_only=True)
    transfer = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = ExportAuthorisation
        fields = [
            "id",
            "exporter",
            "receiver",
            "origin_facility",
            "destination_facility",
            "origin_country",
            "destination_country",
            "reference",
            "chip_count",
            "chip_models",
            "chips_sha256",
            "status",
            "requested_at",
            "request_log_index",
            "decided_by_organisation",
            "decided_at",
            "reason",
            "decision_log_index",
            "valid_until",
            "revoked_by_organisation",
            "revoked_at",
            "revocation_reason",
            "revocation_log_index",
            "transfer",
        ]


class ExportAuthorisationDetailSerializer(ExportAuthorisationSerializer):
    """One authorisation, with the chips it covers (public ids)."""

    chips = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(ExportAuthorisationSerializer.Meta):
        fields = [*ExportAuthorisationSerializer.Meta.fields, "chips"]


class ExportRequestSerializer(serializers.Serializer):
    receiver = serializers.SlugRelatedField(slug_field="code", queryset=Organisation.objects.all())
    destination_facility = serializers.CharField(required=False, allow_null=True)
    origin_facility = serializers.CharField(required=False, allow_null=True)
    # Missing, null, empty or blank: the README's 400 reference_required, whichever layer sees it.
    reference = ReasonField(
        max_length=100,
        code="reference_required",
        missing="An export authorisation names the exporting state's licence number.",
        help_text="The exporting state's licence number (missing or blank: 400 reference_required).",
    )
    chips = serializers.ListField(child=serializers.JSONField(), min_length=1)


class ExportDecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    valid_until = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="No shipment under it after this (in the future, at most CHIPREG_EXPORT_VALIDITY_DAYS away); "
        "default: that many days after the approval.",
    )


class ExportRefusalSerializer(serializers.Serializer):
    reason = ReasonField(max_length=4000)
