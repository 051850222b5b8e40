from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.countries import country_codes
from core.fields import ReasonField
from inventory.models import (
    AnyFinding,
    Campus,
    Cluster,
    Declaration,
    ExportAuthorisation,
    Facility,
    Inspection,
    NetworkLink,
    Placement,
    Transfer,
    WorkloadGroup,
)
from inventory.models.sites import site_code_validator
from registry.models import Organisation


class FacilitySerializer(serializers.ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="code", read_only=True)
    campus = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    reviewed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

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
            "review",
            "reviewed_at",
            "reviewed_by",
            "review_reason",
            "review_log_index",
        ]
        read_only_fields = ["created_at", "review", "reviewed_at", "review_reason", "review_log_index"]

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


class FacilityReviewSerializer(serializers.Serializer):
    """The treaty body's decision on a facility declaration: a reason is required to refuse."""

    reason = ReasonField(due="refuse", max_length=5000)


def _site(facility, cluster):
    return {"facility": facility.code, "cluster": cluster.code if cluster is not None else None}


class SiteSerializer(serializers.Serializer):
    """A site: one of your facilities, or a cluster in it."""

    facility = serializers.CharField(help_text="The facility's code.")
    cluster = serializers.CharField(required=False, allow_null=True, default=None, help_text="A cluster code in it.")

    def validate(self, attrs):
        request = self.context.get("request")
        facilities = Facility.objects.restrict(request.user, "change") if request else Facility.objects.none()
        # Another party's facility and no facility get one answer: nobody learns which codes exist.
        facility = facilities.filter(code=attrs["facility"]).first()
        if facility is None:
            raise serializers.ValidationError({"facility": f"You run no facility {attrs['facility']}."})
        cluster = None
        if attrs.get("cluster"):
            cluster = Cluster.objects.filter(facility=facility, code=attrs["cluster"]).first()
            if cluster is None:
                raise serializers.ValidationError({"cluster": f"{facility.code} has no cluster {attrs['cluster']}."})
        return (facility, cluster)


class SiteOutSerializer(serializers.Serializer):
    facility = serializers.CharField()
    cluster = serializers.CharField(allow_null=True)


# What links and workload groups share (inventory.models.links._Declared): who declared and retired them.
# A comment, not a docstring: drf-spectacular would make it every subclass's schema description.
class _DeclaredSerializer(serializers.ModelSerializer):
    operator = serializers.SlugRelatedField(slug_field="code", read_only=True)
    declared_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    retired_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)


class NetworkLinkSerializer(_DeclaredSerializer):
    a = serializers.SerializerMethodField()
    b = serializers.SerializerMethodField()

    class Meta:
        model = NetworkLink
        fields = [
            "id",
            "code",
            "operator",
            "name",
            "a",
            "b",
            "bandwidth_gbps",
            "declared_at",
            "declared_by",
            "log_index",
            "retired_at",
            "retired_by",
        ]
        read_only_fields = fields

    @extend_schema_field(SiteOutSerializer)
    def get_a(self, obj):
        return _site(obj.a_facility, obj.a_cluster)

    @extend_schema_field(SiteOutSerializer)
    def get_b(self, obj):
        return _site(obj.b_facility, obj.b_cluster)


class NetworkLinkCreateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, validators=[site_code_validator])
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    a = SiteSerializer()
    b = SiteSerializer()
    bandwidth_gbps = serializers.FloatField(min_value=0, max_value=1e9, help_text="Declared bandwidth, Gbit/s.")


class NetworkLinkUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    bandwidth_gbps = serializers.FloatField(min_value=0, max_value=1e9, required=False)


class WorkloadGroupSerializer(_DeclaredSerializer):
    sites = serializers.SerializerMethodField()

    class Meta:
        model = WorkloadGroup
        fields = [
            "id",
            "code",
            "operator",
            "name",
            "description",
            "sites",
            "declared_at",
            "declared_by",
            "log_index",
            "retired_at",
            "retired_by",
        ]
        read_only_fields = fields

    @extend_schema_field(SiteOutSerializer(many=True))
    def get_sites(self, obj):
        return [_site(m.facility, m.cluster) for m in obj.members.all()]


class WorkloadGroupCreateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, validators=[site_code_validator])
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    # Fewer than two different sites is the service's 400 group_too_small (README), not a generic `invalid`.
    sites = SiteSerializer(many=True, max_length=1000)


class WorkloadGroupUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class PlacementSerializer(serializers.ModelSerializer):
    chip = serializers.CharField(source="chip.public_id", read_only=True)
    facility = serializers.SlugRelatedField(slug_field="code", read_only=True)
    cluster = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Placement
        fields = ["id", "chip", "facility", "cluster", "valid_from", "valid_to", "source", "source_id", "log_index"]


class ChipListSerializer(serializers.Serializer):
    """A list of chips as sent: ids, or {"chip", "cluster"} objects."""

    chips = serializers.ListField(child=serializers.JSONField(), allow_empty=True)


class DeclarationSerializer(serializers.ModelSerializer):
    facility = serializers.SlugRelatedField(slug_field="code", read_only=True)
    declared_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Declaration
        fields = ["id", "facility", "as_of", "declared_by", "attestation_id", "chip_count", "created_at", "log_index"]


class FindingCountsField(serializers.DictField):
    """Findings raised, counted by kind (only the kinds that occurred)."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.IntegerField(), read_only=True, **kwargs)


class DeclarationResultSerializer(DeclarationSerializer):
    """The answer to a declaration: the record, and what it moved (services.listings.record_declaration)."""

    listed = serializers.IntegerField(read_only=True)
    placed = serializers.IntegerField(read_only=True)
    unchanged = serializers.IntegerField(read_only=True)
    superseded = serializers.IntegerField(read_only=True)
    findings = FindingCountsField()

    class Meta(DeclarationSerializer.Meta):
        fields = [*DeclarationSerializer.Meta.fields, "listed", "placed", "unchanged", "superseded", "findings"]


class DeclarationCreateSerializer(serializers.Serializer):
    facility = OwnFacilityField()
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


class InspectionResultSerializer(InspectionSerializer):
    """The answer to an inspection: the record, and what it found (services.listings.record_inspection)."""

    observed = serializers.IntegerField(read_only=True)
    findings = FindingCountsField()

    class Meta(InspectionSerializer.Meta):
        fields = [*InspectionSerializer.Meta.fields, "observed", "findings"]


class InspectionCreateSerializer(serializers.Serializer):
    facility = serializers.CharField()
    performed_at = serializers.DateTimeField()
    inspectors = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    seals_checked = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    observed = serializers.ListField(child=serializers.JSONField(), help_text="The serials observed (chip ids).")


def _has_authorisation(transfer):
    try:
        transfer.export_authorisation  # noqa: B018  (the reverse one-to-one raises when there is none)
    except ObjectDoesNotExist:
        return False
    return True


class TransferSerializer(serializers.ModelSerializer):
    shipper = serializers.SlugRelatedField(slug_field="code", read_only=True)
    receiver = serializers.SlugRelatedField(slug_field="code", read_only=True)
    origin_facility = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    destination_facility = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    received_facility = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    cross_border = serializers.BooleanField(read_only=True)
    export_authorisation = serializers.SerializerMethodField(
        help_text="The export authorisation it shipped under (cross-border transfers), or null."
    )

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_export_authorisation(self, transfer):
        """Its id for those who may read the authorisation; null for the others (the inspectorate of a country
        the chips arrived in that the licence never named reads the transfer, not the exporting state's licence),
        and for a caller that passed no request."""
        request = self.context.get("request")
        if not _has_authorisation(transfer) or request is None:
            return None
        pk = transfer.export_authorisation.pk
        readable = self.context.setdefault("_readable_authorisations", {})
        if pk not in readable:
            # Once for every transfer this serializer renders (a list page), not once a row.
            rendered = self.parent.instance if isinstance(self.parent, serializers.ListSerializer) else [transfer]
            pks = {pk} | {t.export_authorisation.pk for t in rendered if _has_authorisation(t)}
            visible = ExportAuthorisation.objects.restrict(request.user, "view").filter(pk__in=pks)
            seen = set(visible.values_list("pk", flat=True))
            readable.update({p: p in seen for p in pks})
        return str(pk) if readable[pk] else None

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
            "export_authorisation",
            "shipped_at",
            "received_at",
            "received_facility",
            "status",
            "ship_log_index",
            "receipt_log_index",
        ]


class TransferReceiptSerializer(TransferSerializer):
    """The answer to a receipt: the transfer, and how many chips arrived, are missing or were unexpected, and
    how many were listed but had left the shipment since (withdrawn: they stay with whoever holds them now)."""

    received = serializers.IntegerField(read_only=True)
    missing = serializers.IntegerField(read_only=True)
    unexpected = serializers.IntegerField(read_only=True)
    withdrawn = serializers.IntegerField(read_only=True)

    class Meta(TransferSerializer.Meta):
        fields = [*TransferSerializer.Meta.fields, "received", "missing", "unexpected", "withdrawn"]


class TransferCreateSerializer(serializers.Serializer):
    receiver = serializers.SlugRelatedField(slug_field="code", queryset=Organisation.objects.all())
    destination_facility = serializers.CharField(required=False, allow_null=True)
    origin_facility = serializers.CharField(required=False, allow_null=True)
    shipped_at = serializers.DateTimeField()
    chips = serializers.ListField(child=serializers.JSONField(), min_length=1)
    export_authorisation = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A transfer to another country: the approved export authorisation it ships under "
        "(409 export_not_authorised without one).",
    )


class TransferReceiveSerializer(serializers.Serializer):
    received_at = serializers.DateTimeField()
    facility = serializers.CharField(required=False, allow_null=True)
    chips = serializers.ListField(child=serializers.JSONField(), help_text="The chips that actually arrived.")


class ListingSourceSerializer(serializers.Serializer):
    """The latest listing of one kind at the date, and its discrepancies against the books, by kind."""

    id = serializers.CharField(help_text="The declaration or inspection id, or the attestation id.")
    date = serializers.DateTimeField()
    listed = serializers.IntegerField()
    unaccounted = serializers.IntegerField()
    unexpected = serializers.IntegerField()
    unknown_chip = serializers.IntegerField()
    wrong_cluster = serializers.IntegerField()


class TransferSourceSerializer(serializers.Serializer):
    never_received = serializers.IntegerField()


class ReconciliationSourcesSerializer(serializers.Serializer):
    declaration = ListingSourceSerializer(allow_null=True, help_text="null: no declaration by the date.")
    attestation = ListingSourceSerializer(allow_null=True, help_text="null: no attested listing by the date.")
    inspection = ListingSourceSerializer(allow_null=True, help_text="null: no inspection by the date.")
    transfers = TransferSourceSerializer()


class DiscrepancySerializer(serializers.Serializer):
    kind = serializers.CharField()
    chip = serializers.CharField()
    source = serializers.CharField()
    source_id = serializers.CharField()
    book_cluster = serializers.CharField(allow_null=True)
    listed_cluster = serializers.CharField(allow_null=True)


class ReconciliationSerializer(serializers.Serializer):
    """The material balance of a facility at a date (services.reconciliation.reconcile)."""

    facility = serializers.CharField(help_text="The facility's code.")
    at = serializers.DateTimeField()
    book = serializers.IntegerField(help_text="Chips on the books at the date.")
    sources = ReconciliationSourcesSerializer()
    discrepancies = DiscrepancySerializer(many=True)


class FindingSerializer(serializers.ModelSerializer):
    chip = serializers.CharField(source="chip_ref")
    facility = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AnyFinding
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
    reason = ReasonField(min_length=3)
