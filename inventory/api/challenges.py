"""Challenge inspections and the rule of who may request them (inventory.services.challenges decides)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.fields import ReasonField
from core.views import RestrictedViewSetMixin
from inventory.chiprefs import parse_listing
from inventory.models import ChallengeInspection, ChallengeRule
from inventory.services import challenges

# --- serializers ---------------------------------------------------------------------------------


class ChallengeRuleEntrySerializer(serializers.Serializer):
    inspectorate = serializers.CharField(max_length=64)
    countries = serializers.ListField(
        child=serializers.CharField(max_length=2), required=False, default=list, help_text="Empty: any country."
    )


class ChallengeRuleSerializer(serializers.ModelSerializer):
    allowed = ChallengeRuleEntrySerializer(many=True, read_only=True)
    declared_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = ChallengeRule
        fields = ["id", "version", "allowed", "reason", "declared_by", "organisation", "declared_at", "log_index"]


class ChallengeRuleCreateSerializer(serializers.Serializer):
    allowed = ChallengeRuleEntrySerializer(
        many=True, help_text="Inspectorates (besides treaty bodies) that may request."
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ChallengeInspectionClockSerializer(serializers.Serializer):
    step = serializers.ChoiceField(choices=["acknowledge", "access"])
    deadline = serializers.DateTimeField()
    seconds_left = serializers.FloatField(help_text="Negative: overdue.")
    overdue = serializers.BooleanField()


class InspectionSealSerializer(serializers.Serializer):
    seal = serializers.CharField(max_length=100)
    where = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
    intact = serializers.BooleanField(required=False, default=True)


class ChallengeInspectionSerializer(serializers.ModelSerializer):
    facility = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    operator = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    requester = serializers.SlugRelatedField(slug_field="code", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    access_decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    recorded_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    clock = serializers.SerializerMethodField()
    seals = serializers.SerializerMethodField()
    case_ref = serializers.SerializerMethodField(
        help_text="The case the request cites: shown to the requester and the treaty body, empty for the "
        "party concerned and the site country's inspectorate."
    )

    class Meta:
        model = ChallengeInspection
        fields = [
            "id",
            "facility",
            "latitude",
            "longitude",
            "country",
            "operator",
            "requester",
            "requested_by",
            "rule_version",
            "reason",
            "case_ref",
            "state",
            "requested_at",
            "acknowledge_by",
            "access_by",
            "acknowledged_at",
            "acknowledged_by",
            "access_decided_at",
            "access_decided_by",
            "access_reason",
            "acknowledge_overdue_at",
            "access_overdue_at",
            "clock",
            "inspection",
            "performed_at",
            "observed_count",
            "recorded_by",
            "seals",
            "log_index",
        ]

    @extend_schema_field(serializers.CharField())
    def get_case_ref(self, row):
        request = self.context.get("request")
        return row.case_ref if request is not None and challenges.sees_case(request.user, row) else ""

    @extend_schema_field(ChallengeInspectionClockSerializer(allow_null=True))
    def get_clock(self, row):
        clock = challenges.clock(row)
        if clock is None:
            return None
        step, deadline, left = clock
        return {"step": step, "deadline": deadline, "seconds_left": round(left, 1), "overdue": left < 0}

    @extend_schema_field(InspectionSealSerializer(many=True))
    def get_seals(self, row):
        seals = row.inspection.seals.all() if row.inspection_id else row.seals.all()
        return [{"seal": s.seal, "where": s.where, "intact": s.intact} for s in seals]


class ChallengeInspectionCreateSerializer(serializers.Serializer):
    facility = serializers.CharField(required=False, help_text="A registered facility's code; or coordinates.")
    latitude = serializers.FloatField(required=False, min_value=-90, max_value=90)
    longitude = serializers.FloatField(required=False, min_value=-180, max_value=180)
    reason = ReasonField(max_length=5000)
    case = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=64, help_text="The code of the case it belongs to."
    )


class ChallengeInspectionAcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ChallengeInspectionAccessSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["granted", "refused"])
    reason = ReasonField(due="refuse", max_length=5000)


class ChallengeInspectionRecordSerializer(serializers.Serializer):
    performed_at = serializers.DateTimeField()
    observed = serializers.ListField(child=serializers.JSONField(), help_text="The serials seen (chip ids).")
    seals = InspectionSealSerializer(many=True, required=False, default=list)
    inspectors = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class ChallengeInspectionRecordResultSerializer(ChallengeInspectionSerializer):
    """The record, and how many serials it holds. Findings are read from /findings/, each party its own."""

    observed = serializers.IntegerField(read_only=True)

    class Meta(ChallengeInspectionSerializer.Meta):
        fields = [*ChallengeInspectionSerializer.Meta.fields, "observed"]


# --- views ---------------------------------------------------------------------------------------


class ChallengeRuleViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Who besides treaty bodies may request challenge inspections, and where: every version (public)."""

    queryset = ChallengeRule.objects.select_related("declared_by", "organisation")
    serializer_class = ChallengeRuleSerializer

    def get_queryset(self):
        return ChallengeRule.objects.restrict(self.request.user, "view").select_related("declared_by", "organisation")

    @extend_schema(request=ChallengeRuleCreateSerializer, responses={201: ChallengeRuleSerializer})
    def create(self, request):
        from core.errors import Forbidden

        org = getattr(request.user, "organisation", None)
        if org is None or org.kind != "treaty_body":  # the kind of party first: 403 before the body is read
            raise Forbidden("Only treaty bodies declare who may request challenge inspections.")
        body = ChallengeRuleCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = challenges.declare_rule(request.user, body.validated_data["allowed"], body.validated_data["reason"])
        return Response(ChallengeRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class ChallengeInspectionViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Challenge inspections: requested by the treaty body (or an inspectorate its rule allows), acknowledged and
    answered by the party concerned within their deadlines, recorded by the requester."""

    queryset = ChallengeInspection.objects.all()
    serializer_class = ChallengeInspectionSerializer
    filterset_fields = ["state", "country", "case_ref"]

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.request.query_params.get("case_ref"):
            # Only those who read a challenge's case reference may filter by it (else probing codes tells them).
            org = getattr(self.request.user, "organisation", None)
            if org is None or org.kind != "treaty_body":
                queryset = queryset.filter(requester=org) if org is not None else queryset.none()
        return queryset

    def get_queryset(self):
        # Steps are POSTs on a challenge the user may *see*; the service decides who answers.
        return (
            ChallengeInspection.objects.restrict(self.request.user, "view")
            .select_related(
                "facility",
                "operator",
                "requester",
                "requested_by",
                "acknowledged_by",
                "access_decided_by",
                "recorded_by",
            )
            .prefetch_related("seals", "inspection__seals")
        )

    @extend_schema(request=ChallengeInspectionCreateSerializer, responses={201: ChallengeInspectionSerializer})
    def create(self, request):
        from core.errors import Forbidden

        if not challenges.may_request(request.user):  # the kind of party first: a 403, not a 400
            raise Forbidden("Only the treaty body, or an inspectorate its rule allows, requests challenge inspections.")
        body = ChallengeInspectionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        row = challenges.request(
            request.user,
            reason=data["reason"],
            case_ref=data["case"],
            facility_code=data.get("facility"),
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
        )
        return Response(
            self.get_serializer(row).data,
            status=status.HTTP_201_CREATED,
        )

    def _answer(self, row):
        return Response(
            ChallengeInspectionSerializer(
                self.get_queryset().get(pk=row.pk), context=self.get_serializer_context()
            ).data
        )

    @extend_schema(request=ChallengeInspectionAcknowledgeSerializer, responses=ChallengeInspectionSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        body = ChallengeInspectionAcknowledgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._answer(challenges.acknowledge(request.user, _pk(pk), body.validated_data["note"]))

    @extend_schema(request=ChallengeInspectionAccessSerializer, responses=ChallengeInspectionSerializer)
    @action(detail=True, methods=["post"])
    def access(self, request, pk=None):
        body = ChallengeInspectionAccessSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        row = challenges.decide_access(request.user, _pk(pk), data["decision"] == "granted", data["reason"])
        return self._answer(row)

    @extend_schema(
        request=ChallengeInspectionRecordSerializer, responses={201: ChallengeInspectionRecordResultSerializer}
    )
    @action(detail=True, methods=["post"])
    def record(self, request, pk=None):
        body = ChallengeInspectionRecordSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        rows = parse_listing(data["observed"], settings.CHIPREG_BULK_MAX_ROWS)
        row, summary = challenges.record(
            request.user,
            _pk(pk),
            data["performed_at"],
            rows,
            seals=[dict(s) for s in data["seals"]],
            inspectors=data["inspectors"],
            notes=data["notes"],
        )
        out = ChallengeInspectionSerializer(
            self.get_queryset().get(pk=row.pk), context=self.get_serializer_context()
        ).data
        return Response({**out, "observed": summary["observed"]}, status=status.HTTP_201_CREATED)


def _pk(pk):
    from core.errors import NotFound

    try:
        return int(pk)
    except (TypeError, ValueError):
        raise NotFound(f"No challenge inspection {str(pk)[:32]!r} in your view.") from None


__all__ = ["ChallengeInspectionViewSet", "ChallengeRuleViewSet"]
