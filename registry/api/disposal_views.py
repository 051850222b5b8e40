"""Disposal requests, the watch list and manufacturers' reports (issue #19): a few declarative lines each;
the rules are registry.disposals and registry.reports, visibility each model's restrict()."""

from django.db.models import OuterRef, Subquery
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.attachments import decode, download_name
from core.ids import parse_id
from core.views import RestrictedReadOnlyViewSet, RestrictedViewSetMixin
from registry import disposals, reports
from registry.api import disposal_serializers as s
from registry.choices import WATCHED_STATUSES, ChipEventKind
from registry.models import Chip, ChipEvent, DisposalAttachment, DisposalRequest, ManufacturerReport


def _pk(raw):
    pk = parse_id(raw)
    if pk is None:
        raise exceptions.NotFound("No such disposal request in your view.")
    return pk


class DisposalViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Requests to destroy or decommission chips, awaiting witness (`?state=pending`), accepted or refused.

    The holder asks (`POST`, with its evidence as attachments); an inspector of the chips' country or the
    treaty body accepts (`accept/`) or refuses with a reason (`refuse/`). Until accepted the chips keep
    their status: they count in every total and stay under the silence check.
    """

    queryset = DisposalRequest.objects.select_related(
        "organisation", "requested_by", "decided_by", "decided_by_organisation"
    ).prefetch_related("attachments")
    serializer_class = s.DisposalRequestSerializer
    filterset_fields = ["state", "kind", "country"]

    def get_queryset(self):
        # Deciding is a POST on a request one may *see* (who may decide: registry.disposals.may_witness).
        return self.restricted("view")

    def get_serializer_class(self):
        return s.DisposalRequestListSerializer if self.action == "list" else s.DisposalRequestSerializer

    def get_object(self):
        _pk(self.kwargs.get("pk", ""))
        return super().get_object()

    @extend_schema(request=s.DisposalInputSerializer, responses={201: s.DisposalRequestSerializer})
    def create(self, request, *args, **kwargs):
        body = s.DisposalInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        files = [(a["name"], a["content_type"], decode(a["content"], i)) for i, a in enumerate(data["attachments"])]
        row = disposals.request_disposal(
            request.user,
            kind=data["kind"],
            chip_ids=data["chips"],
            method=data["method"],
            place=data["place"],
            date=data["date"],
            files=files,
            reason=data["reason"],
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=row.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DisposalDecisionInputSerializer, responses=s.DisposalRequestSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Witnessed: the chips leave the books (their status changes, each history row naming this request)."""
        return self._decide(request, accept=True)

    @extend_schema(request=s.DisposalDecisionInputSerializer, responses=s.DisposalRequestSerializer)
    @action(detail=True, methods=["post"])
    def refuse(self, request, pk=None):
        """Refused, with the reason: the chips stay as they are."""
        return self._decide(request, accept=False)

    def _decide(self, request, *, accept):
        row = self.get_object()
        body = s.DisposalDecisionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        disposals.decide(request.user, row, accept=accept, reason=body.validated_data["reason"])
        return Response(self.get_serializer(self.get_queryset().get(pk=row.pk)).data)

    @extend_schema(
        parameters=[OpenApiParameter("position", int, OpenApiParameter.PATH, description="0, 1, ...")],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file as sent; its type and SHA-256 are in the request."
            )
        },
    )
    @action(detail=True, methods=["get"], url_path=r"attachments/(?P<position>[0-9]{1,4})")
    def attachment(self, request, pk=None, position=None):
        """One attachment's bytes, as a download (never rendered: application/octet-stream)."""
        row = self.get_object()
        found = DisposalAttachment.objects.filter(request=row, position=int(position)).first()
        if found is None:
            raise exceptions.NotFound("No such attachment.")
        response = HttpResponse(bytes(found.content), content_type="application/octet-stream")
        name = download_name(f"disposal-{row.pk}-{found.position}", found.name)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox"
        return response


def watch_list(user):
    """Chips lost or stolen in `user`'s view (the custodian its own, inspectorates their jurisdictions: the
    chip's last country, the treaty body all), with when and under which log entry they were reported."""
    latest = ChipEvent.objects.filter(chip=OuterRef("pk"), kind=ChipEventKind.STATUS).order_by("-id")
    return (
        Chip.objects.restrict(user, "view")
        .filter(status__in=[str(x) for x in WATCHED_STATUSES])
        .select_related("manufacturer", "model", "custodian")
        .annotate(since=Subquery(latest.values("at")[:1]), log_index=Subquery(latest.values("log_index")[:1]))
    )


class WatchListViewSet(RestrictedReadOnlyViewSet):
    """The watch list: chips reported lost or stolen, while they are. A later sighting of one anywhere is a
    critical `lost_chip_sighted` finding."""

    queryset = Chip.objects.all()
    serializer_class = s.WatchEntrySerializer
    filterset_fields = ["status", "country"]
    lookup_value_regex = r"[^/]+"

    def get_queryset(self):
        return watch_list(self.request.user)

    def get_object(self):
        chip = self.filter_queryset(self.get_queryset()).by_public_id(self.kwargs["pk"]).first()
        if chip is None:
            raise exceptions.NotFound("No such chip on your watch list.")
        return chip


class ManufacturerReportViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Serials a manufacturer reports it produced: its own (the treaty body reads all). `POST` a JSON
    `{"serials": [...]}`: the new ones are one log event; ones reported before are kept, not repeated."""

    queryset = ManufacturerReport.objects.select_related("manufacturer", "reported_by")
    serializer_class = s.ManufacturerReportSerializer
    filterset_fields = ["serial"]

    def get_queryset(self):
        return self.restricted("view")

    @extend_schema(
        request=s.ManufacturerReportInputSerializer,
        responses={
            201: s.ManufacturerReportResultSerializer,
            200: OpenApiResponse(s.ManufacturerReportResultSerializer, description="Every serial was reported before."),
        },
    )
    def create(self, request, *args, **kwargs):
        body = s.ManufacturerReportInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        submitted, added, log_index = reports.report_serials(request.user, body.validated_data["serials"])
        return Response(
            {"submitted": submitted, "added": added, "log_index": log_index},
            status=status.HTTP_201_CREATED if added else status.HTTP_200_OK,
        )
