from django.db.models import Prefetch
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from compliance import services
from compliance.api import serializers as s
from compliance.api.dispute_views import answers_in_view, clarifications_in_view
from compliance.authority import require_alert_handler, require_rule_declarer
from compliance.evidence import bundle as evidence_bundle
from compliance.evidence import pick as pick_evidence
from compliance.models import Aggregate, Alert, ThresholdRule
from core.filters import yes_no
from core.ids import parse_id
from core.views import RestrictedReadOnlyViewSet, RestrictedViewSetMixin

# `?all=true` on the lists of versioned rules (thresholds, destination rules): documented, as clients read it.
ALL_VERSIONS = OpenApiParameter(
    "all",
    OpenApiTypes.BOOL,
    description="true (or 1): every version, superseded ones too (default: the current version of each rule).",
)


@extend_schema_view(list=extend_schema(parameters=[ALL_VERSIONS]))
class ThresholdRuleViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Threshold rules. POST declares (version 1, or the next version of `key`); PATCH makes a new
    version; DELETE takes the rule out of force. Every version is a log event; old alerts keep theirs."""

    queryset = ThresholdRule.objects.select_related("created_by")
    serializer_class = s.ThresholdRuleSerializer
    filterset_fields = ["key", "scope", "metric", "severity", "preset"]

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "list" and not yes_no(self.request.query_params, "all"):
            qs = qs.filter(superseded_at__isnull=True)  # current versions unless ?all=true
        return qs

    @extend_schema(request=s.RuleDeclarationSerializer, responses={201: s.ThresholdRuleSerializer})
    def create(self, request):
        require_rule_declarer(request.user)
        # The key is validated as the slug the schema and the stored rule say it is.
        body = s.RuleDeclarationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        rule = services.declare(request.user, fields.pop("key"), **fields)
        return Response(s.ThresholdRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RuleInputSerializer, responses=s.ThresholdRuleSerializer)
    def partial_update(self, request, pk=None):
        require_rule_declarer(request.user)
        rule = self.get_object()
        if rule.superseded_at is not None:
            raise exceptions.ValidationError({"version": ["Change the current version of a rule."]})
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Send the changed terms as a JSON object."]})
        body = s.RuleInputSerializer(data={**s.RuleInputSerializer(rule).data, **request.data})
        body.is_valid(raise_exception=True)
        changes = {k: v for k, v in body.validated_data.items() if k in request.data}
        return Response(s.ThresholdRuleSerializer(services.declare(request.user, rule.key, **changes)).data)

    def destroy(self, request, pk=None):
        require_rule_declarer(request.user)
        services.retire(request.user, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AggregateViewSet(RestrictedViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Stored totals per subject (cluster, facility, campus, operator within a country)."""

    queryset = Aggregate.objects.select_related("operator")
    serializer_class = s.AggregateSerializer
    filterset_fields = ["scope", "country", "subject_key"]
    # Visibility: Aggregate.objects.restrict() (compliance.models), as for every other list.


class AlertViewSet(RestrictedReadOnlyViewSet):
    """Alerts: filter, open one (with its frozen evidence), acknowledge, resolve or dismiss with a reason."""

    queryset = Alert.objects.select_related("rule", "facility", "operator")
    serializer_class = s.AlertSerializer
    filterset_fields = ["state", "severity", "kind", "scope", "country", "facility__code"]

    def get_serializer_class(self):
        return s.AlertDetailSerializer if self.action == "retrieve" else s.AlertSerializer

    def get_queryset(self):
        user = self.request.user
        qs = Alert.objects.restrict(user).select_related("rule", "facility", "operator")
        if self.action != "retrieve":
            return qs
        return qs.prefetch_related(
            "evidence",
            "transitions__by",
            Prefetch("answers", queryset=answers_in_view(user)),
            Prefetch("clarifications", queryset=clarifications_in_view(user)),
        )

    def _transition(self, request, action_name):
        require_alert_handler(request.user)
        body = s.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alert = services.transition(request.user, self.get_object(), action_name, body.validated_data["reason"])
        return Response(s.AlertSerializer(alert).data)

    @extend_schema(request=s.ReasonSerializer, responses=s.AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._transition(request, "acknowledge")

    @extend_schema(request=s.ReasonSerializer, responses=s.AlertSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        return self._transition(request, "resolve")

    @extend_schema(request=s.ReasonSerializer, responses=s.AlertSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        return self._transition(request, "dismiss")

    @extend_schema(
        parameters=[OpenApiParameter("evidence", int, description="Evidence id (default: the first).")],
        responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="One chip id a line.")},
    )
    @action(detail=True, methods=["get"])
    def chips(self, request, pk=None):
        """The chips counted when the alert was raised, one id per line (their SHA-256 is in the evidence)."""
        alert = self.get_object()
        # ?evidence=<id> picks a later freeze, as documented (and as the console's copy of this view does); an id
        # the alert has no evidence of is a 404, as for its bundle, not an empty list of chips.
        wanted = request.query_params.get("evidence", "")
        evidence = pick_evidence(alert, wanted) if wanted else alert.evidence.order_by("id").first()
        response = HttpResponse(evidence.chips if evidence else "", content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="alert-{alert.pk}-chips.txt"'
        return response

    @extend_schema(
        parameters=[OpenApiParameter("evidence", int, description="Evidence id (default: the first).")],
        responses={200: s.EvidenceBundleSerializer},
    )
    @action(detail=True, methods=["get"])
    def bundle(self, request, pk=None):
        """The evidence bundle (LOG.md section 5): verify it offline with the log's key alone
        (`chipreg verify-evidence`)."""
        evidence = pick_evidence(self.get_object(), request.query_params.get("evidence", ""))
        response = Response(evidence_bundle(evidence, request.user))
        response["Content-Disposition"] = f'attachment; filename="alert-{pk}-evidence-{evidence.pk}.json"'
        return response

    def get_object(self):
        if parse_id(self.kwargs.get("pk", "")) is None:
            raise exceptions.NotFound()
        return super().get_object()
