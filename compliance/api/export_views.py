"""Export authorisations and destination rules.

export-authorisations/: the sending custodian requests (POST); both operators, both countries' inspectorates
and the treaty body read; anyone else gets 404 as for an id that does not exist. .../approve/ (until
`valid_until`), .../refuse/ and .../revoke/ (an approved one no shipment used): the inspectorate of the exporting
country only (403 `not_exporting_inspectorate` for every other party that
sees it). destination-rules/: readable by all parties, declared (POST: a new key or the next version of one)
and retired (DELETE) by the treaty body.
"""

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from compliance import exports
from compliance.api import export_serializers as s
from compliance.api.views import ALL_VERSIONS
from compliance.authority import require_rule_declarer
from compliance.export_models import DestinationRule
from core.filters import yes_no
from core.views import RestrictedViewSetMixin
from inventory.chiprefs import parse_listing
from inventory.models import ExportAuthorisation
from inventory.services import exports as requests
from inventory.services.inspections import facility_in_view


class ExportAuthorisationViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Export authorisations: POST requests one (the custodian of the chips); approve/refuse decide it (the
    exporting country's inspectorate). A cross-border transfer ships only under an approved one."""

    queryset = ExportAuthorisation.objects.select_related(
        "exporter", "receiver", "origin_facility", "destination_facility", "decided_by_organisation"
    )
    serializer_class = s.ExportAuthorisationDetailSerializer
    filterset_fields = ["status", "origin_country", "destination_country"]

    def get_queryset(self):
        # A decision is a POST on an authorisation the inspectorate may *see*; who may decide is checked after.
        if self.action in ("approve", "refuse", "revoke"):
            return self.restricted("view").select_related("exporter", "receiver")
        if self.action == "list":
            return super().get_queryset().defer("chips")  # up to a bulk listing's worth each: the detail has them
        return super().get_queryset()

    def get_serializer_class(self):
        # A list names each authorisation's chips by count and SHA-256; the detail lists them.
        return s.ExportAuthorisationSerializer if self.action == "list" else s.ExportAuthorisationDetailSerializer

    def get_object(self):
        try:
            return super().get_object()
        except exceptions.ValidationError:  # a malformed UUID in the URL
            raise exceptions.NotFound() from None

    @extend_schema(request=s.ExportRequestSerializer, responses={201: s.ExportAuthorisationDetailSerializer})
    def create(self, request):
        body = s.ExportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        origin = (
            facility_in_view(request.user, data["origin_facility"], "change") if data.get("origin_facility") else None
        )
        auth = requests.request_export(
            request.user,
            parse_listing(data["chips"], settings.CHIPREG_BULK_MAX_ROWS),
            data["receiver"],
            data["reference"],
            origin_facility=origin,
            destination_code=data.get("destination_facility"),
        )
        return Response(self.get_serializer(auth).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ExportDecisionSerializer, responses=s.ExportAuthorisationDetailSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        auth = self.get_object()
        body = s.ExportDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        auth = exports.decide(request.user, auth, True, data["reason"], valid_until=data["valid_until"])
        return Response(self.get_serializer(auth).data)

    @extend_schema(request=s.ExportRefusalSerializer, responses=s.ExportAuthorisationDetailSerializer)
    @action(detail=True, methods=["post"])
    def refuse(self, request, pk=None):
        auth = self.get_object()
        body = s.ExportRefusalSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        auth = exports.decide(request.user, auth, False, body.validated_data["reason"])
        return Response(self.get_serializer(auth).data)

    @extend_schema(request=s.ExportRefusalSerializer, responses=s.ExportAuthorisationDetailSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Withdraw an approved authorisation no shipment has used (the exporting inspectorate; a reason)."""
        auth = self.get_object()
        body = s.ExportRefusalSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        auth = requests.revoke(request.user, auth, body.validated_data["reason"])
        return Response(self.get_serializer(auth).data)


@extend_schema_view(list=extend_schema(parameters=[ALL_VERSIONS]))
class DestinationRuleViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Destination rules (countries forbidden as export destinations). Every party reads them; POST declares
    (version 1, or the next version of `key`, superseding it); DELETE takes the rule out of force. Every version
    is a log event. Lists the current versions unless ?all=true."""

    queryset = DestinationRule.objects.select_related("created_by")
    serializer_class = s.DestinationRuleSerializer
    filterset_fields = ["key"]

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "list" and not yes_no(self.request.query_params, "all"):
            qs = qs.filter(superseded_at__isnull=True)
        return qs

    @extend_schema(request=s.DestinationRuleDeclarationSerializer, responses={201: s.DestinationRuleSerializer})
    def create(self, request):
        require_rule_declarer(request.user, "destination rules")
        body = s.DestinationRuleDeclarationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        rule = exports.declare(request.user, fields.pop("key"), **fields)
        return Response(s.DestinationRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        require_rule_declarer(request.user, "destination rules")
        exports.retire(request.user, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
