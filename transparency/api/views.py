"""LOG.md section 4: checkpoint, key, entries, proofs; witnesses and cosignatures."""

import base64
import re

from django.db import IntegrityError, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import api_view, permission_classes, renderer_classes
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from core.problems import Problem
from core.views import RestrictedViewSetMixin
from protocol.encoding import jcs_loads
from protocol.errors import ProtocolError
from transparency import checkpoints, witnesses
from transparency.api.serializers import CosignatureSerializer, WitnessKeySerializer, require_witness_org
from transparency.log import ProofRangeError, consistency_proof, current_size, inclusion_proof
from transparency.models import LogEventData, LogLeaf, WitnessKey


class PlainTextRenderer(BaseRenderer):
    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict):  # a problem detail raised on this endpoint
            return JSONRenderer().render(data)
        return data.encode() if isinstance(data, str) else data


def b64(data):
    return base64.b64encode(bytes(data)).decode()


MAX_INDEX = (1 << 63) - 1  # the database's bigint: anything larger is out of range, not a 500
_DECIMAL = re.compile(r"[0-9]{1,19}")


def _parse_index(raw, name):
    """A non-negative decimal integer that fits a bigint, else a 400 problem.

    ASCII digits only: str.isdigit() also accepts characters such as '²'
    that int() refuses, which used to surface as a 500.
    """
    if raw is None:
        raise Problem(400, "invalid_range", f"The query parameter {name!r} is required.")
    if not _DECIMAL.fullmatch(raw) or int(raw) > MAX_INDEX:
        raise Problem(400, "invalid_range", f"{name} must be a non-negative integer below 2**63; got {raw[:40]!r}.")
    return int(raw)


def _int_param(request, name):
    return _parse_index(request.query_params.get(name), name)


def _signed_size():
    """The size of the latest checkpoint. Reading proofs never signs: one query, no lock."""
    latest = checkpoints.latest_checkpoint()
    return latest.size if latest else 0


@extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR}, summary="The latest signed checkpoint")
@api_view(["GET"])
@permission_classes([AllowAny])
@renderer_classes([PlainTextRenderer])
def checkpoint_view(request):
    # Signs the head first when it grew and the interval allows (never waits).
    latest = checkpoints.sign_if_due()
    return Response(checkpoints.served_note(latest), content_type="text/plain; charset=utf-8")


@extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR}, summary="The log's verifier key line")
@api_view(["GET"])
@permission_classes([AllowAny])
@renderer_classes([PlainTextRenderer])
def key_view(request):
    return Response(checkpoints.verifier_key_line() + "\n", content_type="text/plain; charset=utf-8")


@extend_schema(
    responses=inline_serializer(
        "LogEntry",
        {
            "index": serializers.IntegerField(),
            "leaf": serializers.CharField(),
            # Events only: a statement's leaf carries no data here (its envelope is at /attestations/).
            "data": serializers.JSONField(required=False, help_text="The event's data (event leaves only)."),
        },
    ),
    summary="One log entry, with the data of an event",
)
@api_view(["GET"])
def entry_view(request, index):
    index = _parse_index(index, "index")
    leaf = LogLeaf.objects.filter(index=index).first()
    if leaf is None:
        raise Problem(400, "invalid_range", f"The log has no entry {index} (size {current_size()}).")
    body = {"index": leaf.index, "leaf": b64(leaf.leaf)}
    if leaf.kind == "event":
        data = LogEventData.objects.get(index=leaf.index)
        # Every index below the size exists, so refusing says nothing new.
        if not data.visible_to(request.user):
            raise Problem(403, "forbidden", "This event concerns organisations and countries outside your view.")
        body["data"] = jcs_loads(data.data_jcs)  # numbers as JCS doubles
    return Response(body)


def _proof_response(hashes, **fields):
    return Response({**fields, "hashes": [b64(h) for h in hashes]})


@extend_schema(
    parameters=[OpenApiParameter("index", int, required=True), OpenApiParameter("size", int, required=True)],
    responses=inline_serializer(
        "InclusionProof",
        {"index": serializers.IntegerField(), "size": serializers.IntegerField(), "hashes": serializers.ListField()},
    ),
)
@api_view(["GET"])
@permission_classes([AllowAny])
def inclusion_view(request):
    index, size = _int_param(request, "index"), _int_param(request, "size")
    signed = _signed_size()
    if size > signed:
        raise Problem(400, "invalid_range", f"size {size} is larger than the latest checkpoint ({signed}).")
    try:
        return _proof_response(inclusion_proof(index, size), index=index, size=size)
    except ProofRangeError as exc:
        raise Problem(400, "invalid_range", str(exc)) from None


@extend_schema(
    parameters=[OpenApiParameter("first", int, required=True), OpenApiParameter("second", int, required=True)],
    responses=inline_serializer(
        "ConsistencyProof",
        {"first": serializers.IntegerField(), "second": serializers.IntegerField(), "hashes": serializers.ListField()},
    ),
)
@api_view(["GET"])
@permission_classes([AllowAny])
def consistency_view(request):
    first, second = _int_param(request, "first"), _int_param(request, "second")
    signed = _signed_size()
    if second > signed:
        raise Problem(400, "invalid_range", f"second {second} is larger than the latest checkpoint ({signed}).")
    try:
        return _proof_response(consistency_proof(first, second), first=first, second=second)
    except ProofRangeError as exc:
        raise Problem(400, "invalid_range", str(exc)) from None


class WitnessKeyViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Witness keys of treaty bodies and inspectorates, which cosign checkpoints; DELETE retires one."""

    queryset = WitnessKey.objects.all()
    serializer_class = WitnessKeySerializer

    def create(self, request, *args, **kwargs):
        require_witness_org(request.user)  # 403 before any field is judged
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        # The key and its `witness.registered` log event commit together.
        with transaction.atomic():
            serializer.save()

    def destroy(self, request, *args, **kwargs):
        """Retire one of the organisation's own witness keys (`witness.retired`); another's is a 403."""
        require_witness_org(request.user)
        witnesses.retire(self.get_object(), request.user)
        return Response(status=204)


@extend_schema(request=CosignatureSerializer, responses={201: CosignatureSerializer})
@api_view(["POST"])
def cosignature_view(request):
    serializer = CosignatureSerializer(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    try:
        with transaction.atomic():
            serializer.save()
    except IntegrityError:
        raise Problem(409, "duplicate_cosignature", "This witness already cosigned that checkpoint.") from None
    except ProtocolError as exc:
        raise Problem(400, exc.code, exc.detail) from None
    return Response(serializer.data, status=201)
