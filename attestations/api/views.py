import base64

from django.db.models import Sum
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from attestations import delegations
from attestations.api import serializers as s
from attestations.bases import Basis, record_field
from attestations.filters import DelegationFilter
from attestations.hardware import enrol_identity, issue_challenge
from attestations.landmarks import register_landmark
from attestations.models import (
    AnyUsageRecord,
    Attestation,
    Challenge,
    ChipEvidence,
    Delegation,
    Landmark,
    Rejection,
    SigningKey,
)
from attestations.services import register_key, retire_key, revoke_key
from attestations.submission import submit
from core.ids import parse_id
from core.problems import Problem
from core.views import RestrictedReadOnlyViewSet, RestrictedViewSetMixin
from inventory.api.params import parse_when
from inventory.filters import filter_chip
from registry.models import Chip
from transparency.checkpoints import checkpoint_covering, served_note
from transparency.log import inclusion_proof
from transparency.models import LogLeaf

ENVELOPE_TYPES = ("application/json", "application/vnd.dsse.envelope.v1+json", "application/vnd.dsse+json")


def b64(data):
    return base64.b64encode(bytes(data)).decode()


class SigningKeyViewSet(
    RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Public keys that sign statements: operators' attestation keys, the treaty body's landmark keys."""

    queryset = SigningKey.objects.select_related("organisation")
    serializer_class = s.SigningKeySerializer
    lookup_field = "keyid"
    filterset_fields = ["organisation__code", "purpose", "algorithm"]

    @extend_schema(request=s.KeyRegistrationSerializer, responses={201: s.SigningKeySerializer})
    def create(self, request):
        body = s.KeyRegistrationSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        key = register_key(request.user, **body.validated_data)
        return Response(s.SigningKeySerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RetireSerializer, responses=s.SigningKeySerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, keyid=None):
        key = self.get_object()
        body = s.RetireSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(s.SigningKeySerializer(retire_key(request.user, key, body.validated_data.get("at"))).data)

    @extend_schema(request=s.RevokeSerializer, responses=s.RevokedKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, keyid=None):
        key = self.get_object()
        body = s.RevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key, flagged = revoke_key(request.user, key, body.validated_data["since"], body.validated_data["reason"])
        return Response({**s.SigningKeySerializer(key).data, "flagged_statements": flagged})


class LandmarkViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Landmark servers that measure round-trip times, registered by the treaty body."""

    queryset = Landmark.objects.select_related("organisation")
    serializer_class = s.LandmarkSerializer
    lookup_field = "code"

    # Who may (a treaty body), the row and its log event in one transaction: attestations.landmarks.
    def perform_create(self, serializer):
        serializer.instance = register_landmark(self.request.user, serializer.validated_data)


class AttestationViewSet(RestrictedReadOnlyViewSet):
    """Signed statements (ATTESTATION.md). POST takes a DSSE envelope as the body, exactly as signed."""

    queryset = Attestation.objects.select_related("operator", "facility", "landmark", "uploaded_by_org").defer(
        "envelope"
    )
    serializer_class = s.AttestationSerializer
    filterset_fields = ["kind", "facility__code", "operator__code", "flagged"]

    @extend_schema(
        request={"application/json": s.EnvelopeSerializer},
        responses={
            201: s.AcceptedSerializer,
            400: OpenApiResponse(description="Problem details (see ATTESTATION.md section 6)"),
            409: OpenApiResponse(description="replayed_nonce, with first_id"),
        },
    )
    def create(self, request):
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type not in ENVELOPE_TYPES:
            raise exceptions.UnsupportedMediaType(content_type or "(none)")
        body = request.stream.read() if request.stream is not None else b""
        # A refusal leaves a Rejection row and raises a domain error (core.problems answers it).
        accepted = submit(request.user, body)
        att = accepted.attestation
        return Response(
            {
                "id": att.pk,
                "kind": att.kind,
                "statement_sha256": att.statement_sha256,
                "log_index": att.log_index,
                "chips": att.chip_count,
                "flags": accepted.flags,
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        responses=inline_serializer(
            "Receipt",
            {
                "log_index": serializers.IntegerField(),
                "tree_size": serializers.IntegerField(),
                "leaf": serializers.CharField(),
                "checkpoint": serializers.CharField(),
                "inclusion": serializers.ListField(child=serializers.CharField()),
            },
        )
    )
    @action(detail=True, methods=["get"])
    def receipt(self, request, pk=None):
        """The inclusion proof of the statement's leaf against a signed checkpoint (LOG.md section 4)."""
        att = self.get_object()
        checkpoint = checkpoint_covering(att.log_index)
        leaf = LogLeaf.objects.get(index=att.log_index)
        return Response(
            {
                "log_index": att.log_index,
                "tree_size": checkpoint.size,
                "leaf": b64(leaf.leaf),
                "checkpoint": served_note(checkpoint),
                "inclusion": [b64(h) for h in inclusion_proof(att.log_index, checkpoint.size)],
            }
        )

    @extend_schema(responses={(200, "application/json"): s.EnvelopeSerializer})
    @action(detail=True, methods=["get"])
    def envelope(self, request, pk=None):
        """The envelope exactly as it was signed and sent."""
        from django.http import HttpResponse

        att = Attestation.objects.restrict(request.user).filter(pk=self.get_object().pk).only("envelope").get()
        return HttpResponse(bytes(att.envelope), content_type="application/json")

    def get_object(self):
        if parse_id(self.kwargs.get("pk", "")) is None:
            raise exceptions.NotFound()
        return super().get_object()


class RejectionViewSet(RestrictedReadOnlyViewSet):
    """Refused submissions: who, when, which code and why (nothing of the statement is kept)."""

    queryset = Rejection.objects.select_related("organisation", "user")
    serializer_class = s.RejectionSerializer
    filterset_fields = ["code", "status"]


BASES = tuple(Basis.values)


class UsageViewSet(RestrictedViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Usage per chip and period, with the compute estimate on the chosen basis.

    `basis=fp16` (default): FP16-equivalent FLOP. `basis=peak`: the chip's
    fastest precision (FP8, FP6, FP4 where it has them), so the bound also
    holds for 8-bit and 4-bit work. `basis=higher`: the draft treaty's count,
    FP16-equivalent or actual operations, whichever is higher (the same figure
    as `peak`: attestations/bases.py). All are upper bounds (protocol/usage.py
    documents the estimator).
    """

    queryset = AnyUsageRecord.objects.select_related("facility", "attestation")
    serializer_class = s.UsageRecordSerializer

    def get_queryset(self):
        # Every record, bound to a chip the speaker holds or kept by reference (AnyUsageRecord).
        qs = AnyUsageRecord.objects.restrict(self.request.user).select_related("facility", "attestation")
        params = self.request.query_params
        if "chip" in params:
            qs = filter_chip(qs, "chip", params["chip"])
        if "facility" in params:
            qs = qs.filter(facility__code=params["facility"])
        if "since" in params:
            qs = qs.filter(period_end__gt=parse_when(params["since"], "since"))
        if "until" in params:
            qs = qs.filter(period_start__lt=parse_when(params["until"], "until"))
        return qs

    def basis(self):
        basis = self.request.query_params.get("basis", "fp16")
        if basis not in BASES:
            raise Problem(400, "invalid", f"basis must be one of {', '.join(BASES)}.")
        return basis

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "basis": self.basis()}

    _params = [
        OpenApiParameter("chip", str),
        OpenApiParameter("facility", str),
        OpenApiParameter("since", str),
        OpenApiParameter("until", str),
        OpenApiParameter("basis", str, enum=list(BASES)),
    ]

    @extend_schema(parameters=_params)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=_params, responses=s.UsageTotalSerializer)
    @action(detail=False, methods=["get"])
    def total(self, request):
        """Totals over the selection: active seconds, energy, and the compute bound on the basis."""
        field = record_field(self.basis())
        totals = self.get_queryset().aggregate(active_s=Sum("active_s"), energy_j=Sum("energy_j"), flop=Sum(field))
        return Response({"basis": self.basis(), **{k: v or 0 for k, v in totals.items()}})


class ChallengeViewSet(mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Challenges for hardware evidence (HARDWARE.md 1): POST, no body, by an operator or the treaty body."""

    queryset = Challenge.objects.none()
    serializer_class = s.ChallengeSerializer

    @extend_schema(request=None, responses={201: s.ChallengeSerializer})
    def create(self, request):
        return Response(s.ChallengeSerializer(issue_challenge(request.user)).data, status=status.HTTP_201_CREATED)


class DelegationViewSet(RestrictedReadOnlyViewSet):
    """Delegated delivery (ATTESTATION.md 6): an operator lets another operator deliver its signed statements.
    POST (the operator's admins) grants it; `revoke/` (either party's admins) ends it."""

    queryset = Delegation.objects.select_related("operator", "uploader", "granted_by", "revoked_by")
    serializer_class = s.DelegationSerializer
    filterset_class = DelegationFilter

    def get_queryset(self):
        # Ending one is either party's, decided by the service: both see it, so the row is looked up as seen.
        return self.restricted("view")

    @extend_schema(request=s.DelegationCreateSerializer, responses={201: s.DelegationSerializer})
    def create(self, request):
        body = s.DelegationCreateSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        delegation = delegations.grant(request.user, body.validated_data["uploader"])
        return Response(s.DelegationSerializer(delegation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.DelegationSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        return Response(s.DelegationSerializer(delegations.revoke(request.user, self.get_object())).data)


class ChipHardwareViewSet(viewsets.GenericViewSet):
    """A chip's hardware side: its evidence history, and its manufacturer's device identity enrolment."""

    queryset = ChipEvidence.objects.none()
    serializer_class = s.ChipEvidenceSerializer
    lookup_value_regex = r"[^/]+"

    @extend_schema(responses=s.ChipEvidenceSerializer(many=True))
    @action(detail=True, methods=["get"])
    def evidence(self, request, pk=None):
        """The chip's hardware evidence, oldest first: each statement's outcome, the failed check, the
        identity, FWID and driver. Seen by whoever sees the chip."""
        chip = Chip.objects.restrict(request.user).by_public_id(pk).only("pk").first()
        if chip is None:
            raise exceptions.NotFound(f"No chip {pk[:100]!r} in your view.")
        rows = ChipEvidence.objects.restrict(request.user).filter(chip=chip).select_related("attestation")
        page = self.paginate_queryset(rows.order_by("id"))
        return self.get_paginated_response(s.ChipEvidenceSerializer(page, many=True).data)

    @extend_schema(request=s.IdentityEnrolmentSerializer, responses={201: s.IdentityEnrolledSerializer})
    @action(detail=True, methods=["post"])
    def identity(self, request, pk=None):
        """Enrol the chip's device identity: its manufacturer or the treaty body (authoritative)."""
        body = s.IdentityEnrolmentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        chip, row, mismatch = enrol_identity(request.user, pk, body.validated_data["device_identity"])
        data = {
            "chip": chip.public_id,
            "identity": row.identity,
            "source": row.source,
            "enrolled_at": row.enrolled_at,
            "log_index": row.log_index,
            "identity_mismatch": mismatch,
        }
        return Response(s.IdentityEnrolledSerializer(data).data, status=status.HTTP_201_CREATED)
