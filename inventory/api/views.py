from django.conf import settings
from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from core.csvexport import csv_response
from core.errors import Invalid
from core.ids import parse_id
from core.parsers import JSONParser
from core.views import RestrictedModelViewSet, RestrictedReadOnlyViewSet, RestrictedViewSetMixin
from inventory import filters
from inventory.api import serializers as s
from inventory.api.params import parse_when
from inventory.chiprefs import parse_csv_listing, parse_listing
from inventory.models import (
    AnyFinding,
    Campus,
    Cluster,
    Declaration,
    Facility,
    Inspection,
    NetworkLink,
    Placement,
    Transfer,
    WorkloadGroup,
)
from inventory.services import links
from inventory.services.clusters import register_cluster, update_cluster
from inventory.services.facilities import register_facility, require_facility_reviewer, review_facility, update_facility
from inventory.services.findings import resolve_finding
from inventory.services.inspections import authorise_inspection, facility_in_view
from inventory.services.listings import record_declaration, record_inspection
from inventory.services.placements import facility_at
from inventory.services.reconciliation import reconcile
from inventory.services.transfers import receive, require_receiver, ship


class RawCSVParser(BaseParser):
    """Hands the CSV bytes to the view, which parses them with its own row rules."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read()


def visible_facility(request, code, action="view"):
    return facility_in_view(request.user, code, action)


class FacilityViewSet(RestrictedModelViewSet):
    """Datacenters, the balance areas. Operators register theirs; campuses are proposed from distances."""

    queryset = Facility.objects.select_related("operator", "campus", "reviewed_by")
    serializer_class = s.FacilitySerializer
    filterset_class = filters.FacilityFilter
    lookup_field = "code"
    lookup_value_regex = r"[^/]+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    # The checks (who, the country against the coordinates), the log and the campuses: services.facilities.
    def perform_create(self, serializer):
        serializer.instance = register_facility(self.request.user, serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = update_facility(self.request.user, serializer.instance, serializer.validated_data)

    def _review(self, request, action_name):
        # The treaty body decides; it may see every facility but change none, so the lookup is by view.
        require_facility_reviewer(request.user)
        body = s.FacilityReviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        facility = visible_facility(request, self.kwargs["code"])
        facility = review_facility(request.user, facility, action_name, body.validated_data["reason"])
        return Response(s.FacilitySerializer(facility).data)

    @extend_schema(request=s.FacilityReviewSerializer, responses=s.FacilitySerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, code=None):
        """The treaty body accepts the facility's declaration (draft agreement, Article V.1): chips in it count
        as consolidated. Logged (`facility.accepted`)."""
        return self._review(request, "accept")

    @extend_schema(request=s.FacilityReviewSerializer, responses=s.FacilitySerializer)
    @action(detail=True, methods=["post"])
    def refuse(self, request, code=None):
        """The treaty body refuses the facility's declaration, saying why. Logged (`facility.refused`)."""
        return self._review(request, "refuse")

    @extend_schema(
        parameters=[OpenApiParameter("at", str, description="RFC 3339 date-time, or a date (its end, UTC).")],
        responses=s.PlacementSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def inventory(self, request, code=None):
        """What was in the facility at a date: the book inventory, keyset-paginated."""
        facility = self.get_object()
        placements = facility_at(facility, parse_when(request.query_params.get("at"))).select_related(
            "chip__manufacturer", "facility", "cluster"
        )
        page = self.paginate_queryset(placements.order_by("id"))
        return self.get_paginated_response(s.PlacementSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("at", str, description="RFC 3339 date-time, or a date (its end, UTC)."),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses={
            (200, "application/json"): s.ReconciliationSerializer,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="With format=csv: the discrepancies, one a row."
            ),
        },
    )
    @action(detail=True, methods=["get"])
    def reconciliation(self, request, code=None):
        """The material balance: book against declared, attested and inspected inventories."""
        facility = self.get_object()
        result = reconcile(facility, parse_when(request.query_params.get("at")))
        if request.query_params.get("format") == "csv":
            return csv_response(
                f"reconciliation-{facility.code}-{result.at.date().isoformat()}.csv",
                ["kind", "chip", "source", "source_id", "book_cluster", "listed_cluster"],
                [
                    (d.kind, d.chip_ref, d.source, d.source_id, d.book_cluster or "", d.listed_cluster or "")
                    for d in result.discrepancies
                ],
                stream=False,  # already in memory; API clients read one body
            )
        return Response(
            {
                "facility": facility.code,
                "at": result.at,
                "book": result.book_count,
                "sources": result.sources,
                "discrepancies": [
                    {
                        "kind": d.kind,
                        "chip": d.chip_ref,
                        "source": d.source,
                        "source_id": d.source_id,
                        "book_cluster": d.book_cluster,
                        "listed_cluster": d.listed_cluster,
                    }
                    for d in result.discrepancies
                ],
            }
        )


class CampusViewSet(RestrictedReadOnlyViewSet):
    """Campuses the registry proposed: facilities of any operators within the configured distance.

    Each party sees the facilities of a campus that are in its view only (an operator its own)."""

    queryset = Campus.objects.all()
    serializer_class = s.CampusSerializer
    lookup_field = "code"
    lookup_value_regex = r"[^/]+"

    def get_queryset(self):
        visible = Facility.objects.restrict(self.request.user, "view").only("code", "campus_id").order_by("code")
        return super().get_queryset().prefetch_related(Prefetch("facilities", queryset=visible))


class ClusterViewSet(RestrictedModelViewSet):
    queryset = Cluster.objects.select_related("facility", "facility__operator")
    serializer_class = s.ClusterSerializer
    filterset_class = filters.ClusterFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def perform_create(self, serializer):
        serializer.instance = register_cluster(self.request.user, serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = update_cluster(self.request.user, serializer.instance, serializer.validated_data)


class _SiteTieViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """What links or groups an operator's sites: its operator declares, changes and retires them."""

    http_method_names = ["get", "post", "patch", "head", "options"]
    create_serializer = update_serializer = None
    declare_fn = update_fn = retire_fn = None  # the service functions (staticmethods)

    def _answer(self, obj, status_code=status.HTTP_200_OK):
        obj = self.queryset.all().get(pk=obj.pk)  # as listed (with its sites), after the write
        return Response(self.get_serializer(obj).data, status=status_code)

    def create(self, request):
        links.require_site_operator(request.user)
        body = self.create_serializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        return self._answer(self.declare_fn(request.user, self.values(body.validated_data)), status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        obj = self.get_object()
        body = self.update_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        # What it joins is fixed (retire it and declare another): a field asked for and not changed is refused.
        fixed = sorted(set(request.data) - set(body.fields)) if isinstance(request.data, dict) else []
        if fixed:
            raise Invalid(f"These fields cannot change: {', '.join(fixed)}.", code="fixed_field")
        return self._answer(self.update_fn(request.user, obj, dict(body.validated_data)))

    def _retire(self, request):
        return self._answer(self.retire_fn(request.user, self.get_object()))

    def get_object(self):
        if parse_id(self.kwargs.get("pk", "")) is None:
            raise exceptions.NotFound()
        return super().get_object()


class NetworkLinkViewSet(_SiteTieViewSet):
    """Network links between two of the operator's sites (a facility, or a cluster in it), with their
    bandwidth. Links above a rule's bandwidth join their sites into one covered chip cluster."""

    queryset = NetworkLink.objects.select_related(
        "operator", "a_facility", "a_cluster", "b_facility", "b_cluster", "declared_by", "retired_by"
    )
    serializer_class = s.NetworkLinkSerializer
    filterset_class = filters.NetworkLinkFilter
    create_serializer, update_serializer = s.NetworkLinkCreateSerializer, s.NetworkLinkUpdateSerializer
    declare_fn, update_fn, retire_fn = (
        staticmethod(links.declare_link),
        staticmethod(links.update_link),
        staticmethod(links.retire_link),
    )

    @staticmethod
    def values(data):
        (a_facility, a_cluster), (b_facility, b_cluster) = data["a"], data["b"]
        return {
            "code": data["code"],
            "name": data["name"],
            "a_facility": a_facility,
            "a_cluster": a_cluster,
            "b_facility": b_facility,
            "b_cluster": b_cluster,
            "bandwidth_gbps": data["bandwidth_gbps"],
        }

    @extend_schema(request=s.NetworkLinkCreateSerializer, responses={201: s.NetworkLinkSerializer})
    def create(self, request):
        return super().create(request)

    @extend_schema(request=s.NetworkLinkUpdateSerializer, responses=s.NetworkLinkSerializer)
    def partial_update(self, request, pk=None):
        return super().partial_update(request, pk)

    @extend_schema(request=None, responses=s.NetworkLinkSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        """The link no longer holds: kept on record, no longer joining its sites."""
        return self._retire(request)


class WorkloadGroupViewSet(_SiteTieViewSet):
    """Sites of one operator declared to run workloads together: one covered chip cluster, wherever they are."""

    queryset = WorkloadGroup.objects.select_related("operator", "declared_by", "retired_by").prefetch_related(
        "members__facility", "members__cluster"
    )
    serializer_class = s.WorkloadGroupSerializer
    filterset_class = filters.WorkloadGroupFilter
    create_serializer, update_serializer = s.WorkloadGroupCreateSerializer, s.WorkloadGroupUpdateSerializer
    declare_fn, update_fn, retire_fn = (
        staticmethod(links.declare_group),
        staticmethod(links.update_group),
        staticmethod(links.retire_group),
    )

    @staticmethod
    def values(data):
        return {
            "code": data["code"],
            "name": data["name"],
            "description": data["description"],
            "members": data["sites"],
        }

    @extend_schema(request=s.WorkloadGroupCreateSerializer, responses={201: s.WorkloadGroupSerializer})
    def create(self, request):
        return super().create(request)

    @extend_schema(request=s.WorkloadGroupUpdateSerializer, responses=s.WorkloadGroupSerializer)
    def partial_update(self, request, pk=None):
        return super().partial_update(request, pk)

    @extend_schema(request=None, responses=s.WorkloadGroupSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        """The group no longer holds: kept on record, no longer joining its sites."""
        return self._retire(request)


class PlacementViewSet(RestrictedReadOnlyViewSet):
    """Where chip X was, or what facility F held, at a date (`?chip=`, `?facility=`, `?at=`)."""

    queryset = Placement.objects.select_related("chip__manufacturer", "facility", "cluster")
    serializer_class = s.PlacementSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("chip", str, description="A chip id, `<manufacturer>:<serial>`."),
            OpenApiParameter("facility", str, description="A facility code."),
            OpenApiParameter("at", str, description="Only placements valid at this instant (or date)."),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        qs = super().get_queryset()
        params = self.request.query_params
        if "chip" in params:
            qs = filters.filter_chip(qs, "chip", params["chip"])
        if "facility" in params:
            qs = qs.filter(facility__code=params["facility"])
        if "at" in params:
            qs = qs.at(parse_when(params["at"]))
        return qs


def _listing_rows(entries):
    return parse_listing(entries, settings.CHIPREG_BULK_MAX_ROWS)


class DeclarationViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Physical inventory listings by operators: the complete list of chips in a facility at a date."""

    queryset = Declaration.objects.select_related("facility", "declared_by")
    serializer_class = s.DeclarationSerializer
    filterset_fields = ["facility__code"]

    @extend_schema(request=s.DeclarationCreateSerializer, responses={201: s.DeclarationResultSerializer})
    def create(self, request):
        # The facility is the requester's own (OwnFacilityField): another party's and none get one answer.
        body = s.DeclarationCreateSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        facility = body.validated_data["facility"]
        rows = _listing_rows(body.validated_data["chips"])
        declaration, summary = record_declaration(request.user, facility, body.validated_data["as_of"], rows)
        return Response({**s.DeclarationSerializer(declaration).data, **summary}, status=status.HTTP_201_CREATED)


class InspectionViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """On-site inspections by inspectorates, with the serials observed (JSON, or CSV with query parameters)."""

    queryset = Inspection.objects.select_related("facility", "inspectorate", "recorded_by")
    serializer_class = s.InspectionSerializer
    filterset_class = filters.InspectionFilter
    parser_classes = [JSONParser, RawCSVParser]

    @extend_schema(
        request={"application/json": s.InspectionCreateSerializer, "text/csv": {"type": "string"}},
        responses={201: s.InspectionResultSerializer},
        description=(
            "JSON: the fields below. CSV: a `chip[,cluster]` file as the body, with facility, performed_at, "
            "inspectors, seals_checked (comma-separated) and notes as query parameters."
        ),
    )
    def create(self, request):
        authorise_inspection(request.user)
        if isinstance(request.data, bytes):
            params = request.query_params
            meta = {
                "facility": params.get("facility", ""),
                "performed_at": params.get("performed_at", ""),
                "inspectors": [v for v in params.get("inspectors", "").split(",") if v],
                "seals_checked": [v for v in params.get("seals_checked", "").split(",") if v],
                "notes": params.get("notes", ""),
                "observed": [],
            }
            rows = parse_csv_listing(request.data, settings.CHIPREG_BULK_MAX_ROWS)
        else:
            meta, rows = request.data, None
        body = s.InspectionCreateSerializer(data=meta)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if rows is None:
            rows = _listing_rows(data["observed"])
        facility = visible_facility(request, data["facility"])
        inspection, summary = record_inspection(
            request.user,
            facility,
            data["performed_at"],
            rows,
            inspectors=data["inspectors"],
            seals=data["seals_checked"],
            notes=data["notes"],
        )
        return Response({**s.InspectionSerializer(inspection).data, **summary}, status=status.HTTP_201_CREATED)


class TransferViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Inventory change reports: POST ships (the custodian), POST .../receive confirms (the receiver)."""

    queryset = Transfer.objects.select_related(
        "shipper", "receiver", "origin_facility", "destination_facility", "received_facility", "export_authorisation"
    )
    serializer_class = s.TransferSerializer
    filterset_class = filters.TransferFilter

    @extend_schema(request=s.TransferCreateSerializer, responses={201: s.TransferSerializer})
    def create(self, request):
        body = s.TransferCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        origin = visible_facility(request, data["origin_facility"], "change") if data.get("origin_facility") else None
        transfer = ship(
            request.user,
            _listing_rows(data["chips"]),
            data["receiver"],
            data["shipped_at"],
            origin,
            export_authorisation=data.get("export_authorisation"),
            destination_code=data.get("destination_facility"),
        )
        return Response(
            s.TransferSerializer(transfer, context={"request": request}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=s.TransferReceiveSerializer, responses=s.TransferReceiptSerializer)
    @action(detail=True, methods=["post"])
    def receive(self, request, pk=None):
        transfer = self.get_object()
        body = s.TransferReceiveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        require_receiver(request.user, transfer)
        facility = visible_facility(request, data["facility"], "change") if data.get("facility") else None
        transfer, summary = receive(request.user, transfer, _listing_rows(data["chips"]), data["received_at"], facility)
        return Response({**s.TransferSerializer(transfer, context={"request": request}).data, **summary})

    def get_object(self):
        try:
            return super().get_object()
        except exceptions.ValidationError:  # a malformed UUID in the URL
            raise exceptions.NotFound() from None


class FindingViewSet(RestrictedReadOnlyViewSet):
    """Everything that does not add up, with its evidence. Inspectors and treaty bodies resolve them."""

    queryset = AnyFinding.objects.select_related("facility", "organisation", "resolved_by")
    serializer_class = s.FindingSerializer
    filterset_class = filters.FindingFilter

    @extend_schema(request=s.ResolveSerializer, responses=s.FindingSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        finding = self.get_object()
        body = s.ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        finding = resolve_finding(request.user, finding, body.validated_data["reason"])
        return Response(self.get_serializer(finding).data)

    def get_queryset(self):
        # Resolving is a POST on a finding the user may *see*.
        return AnyFinding.objects.restrict(self.request.user, "view").select_related(
            "facility", "organisation", "resolved_by"
        )
