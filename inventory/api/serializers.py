from rest_framework import serializers

from core.countries import country_codes
from inventory.models import Campus, Cluster, Declaration, Facility, Finding, Inspection, Placement, Transfer
from registry.models import Organisation


class FacilitySerializer(serializers.ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="code", read_only=True)
    campus = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Facility
        fields = [
            "id",
            "code",
            "name",
            "operator",
            "country",
            "latitude",
            "longitude",
            "address",
            "power_mw",
            "status",
            "campus",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def validate_country(self, value):
        value = (value or "").upper()
        if value not in country_codes():
            raise serializers.ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 code.")
        return value

    def validate_code(self, value):
        if self.instance is not None and value != self.instance.code:
            raise serializers.ValidationError("A facility's code cannot change.")
        return value


class CampusSerializer(serializers.ModelSerializer):
    facilities = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = Campus
        fields = ["id", "code", "name", "proposed", "facilities", "created_at"]


class OwnFacilityField(serializers.SlugRelatedField):
    """A facility the requester may change, by code. Another party's facility and no facility get one
    answer, so the field tells nobody which codes exist or who runs them."""

    default_error_messages = {
        "does_not_exist": "You run no facility {value}.",
        "invalid": "Invalid value.",
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Facility.objects.none(), **kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return Facility.objects.none()
        return Facility.objects.restrict(request.user, "change")


class ClusterSerializer(serializers.ModelSerializer):
    facility = OwnFacilityField()

    class Meta:
        model = Cluster
        fields = ["id", "code", "facility", "name", "interconnect_gbps", "purpose", "created_at"]
        read_only_fields = ["created_at"]


class PlacementSerializer(serializers.ModelSerializer):
    chip = serializers.CharField(source="chip.public_id", read_only=True)
    facility = serializers.SlugRelatedField(slug_field="code", read_only=True)
    cluster = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Placement
        fields = ["id", "chip", "facility", "cluster", "valid_from", "valid_to", "source", "source_id", "log_index"]


class ChipListSerializer(serializers.Serializer):
    """A list of chips as sent: ids, or {"chip", "cluster"} objects."""

    chips = serializers.ListField(child=serializers.JSONField(), allow_empty=True)


class DeclarationSerializer(serializers.ModelSerializer):
    facility = serializers.SlugRelatedField(slug_field="code", read_only=True)
    declared_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Declaration
        fields = ["id", "facility", "as_of", "declared_by", "attestation_id", "chip_count", "created_at", "log_index"]


class DeclarationCreateSerializer(serializers.Serializer):
    facility = serializers.CharField()
    as_of = serializers.DateTimeField()
    chips = serializers.ListField(child=serializers.JSONField(), help_text="Chip ids or {chip, cluster} objects.")


class InspectionSerializer(serializers.ModelSerializer):
    facility = serializers.SlugRelatedField(slug_field="code", read_only=True)
    inspectorate = serializers.SlugRelatedField(slug_field="code", read_only=True)
    recorded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Inspection
        fields = [
            "id",
            "facility",
            "inspectorate",
            "performed_at",
            "inspectors",
            "seals_checked",
            "notes",
            "recorded_by",
            "observed_count",
            "created_at",
            "log_index",
        ]


class InspectionCreateSerializer(serializers.Serializer):
    facility = serializers.CharField()
    performed_at = serializers.DateTimeField()
    inspectors = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    seals_checked = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    observed = serializers.ListField(child=serializers.JSONField(), help_text="The serials observed (chip ids).")


class TransferSerializer(serializers.ModelSerializer):
    shipper = serializers.SlugRelatedField(slug_field="code", read_only=True)
    receiver = serializers.SlugRelatedField(slug_field="code", read_only=True)
    origin_facility = serializers.SlugRelatedField(slug_field="code", read_only=True)
    destination_facility = serializers.SlugRelatedField(slug_field="code", read_only=True)
    received_facility = serializers.SlugRelatedField(slug_field="code", read_only=True)
    cross_border = serializers.BooleanField(read_only=True)

    class Meta:
        model = Transfer
        fields = [
            "id",
            "shipper",
            "receiver",
            "origin_facility",
            "destination_facility",
            "origin_country",
            "destination_country",
            "cross_border",
            "shipped_at",
            "received_at",
            "received_facility",
            "status",
            "ship_log_index",
            "receipt_log_index",
        ]


class TransferCreateSerializer(serializers.Serializer):
    receiver = serializers.SlugRelatedField(slug_field="code", queryset=Organisation.objects.all())
    destination_facility = serializers.CharField(required=False, allow_null=True)
    origin_facility = serializers.CharField(required=False, allow_null=True)
    shipped_at = serializers.DateTimeField()
    chips = serializers.ListField(child=serializers.JSONField(), min_length=1)


class TransferReceiveSerializer(serializers.Serializer):
    received_at = serializers.DateTimeField()
    facility = serializers.CharField(required=False, allow_null=True)
    chips = serializers.ListField(child=serializers.JSONField(), help_text="The chips that actually arrived.")


class FindingSerializer(serializers.ModelSerializer):
    chip = serializers.CharField(source="chip_ref")
    facility = serializers.SlugRelatedField(slug_field="code", read_only=True)
    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "kind",
            "chip",
            "facility",
            "organisation",
            "country",
            "other_country",
            "source",
            "source_id",
            "detail",
            "evidence",
            "detected_at",
            "resolved_at",
            "resolved_by",
            "resolution",
        ]


class ResolveSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=3)
