"""Tips (anyone sends; the treaty body reads and triages) and cases (the treaty body works them; the
inspectorates it adds read them). casework.tips and casework.cases do the work.

Whoever may not see a tip or case gets the 404 of one that does not exist; a treaty body's read-only user
and an inspectorate on a case get 403 on its writes.
"""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from casework import cases, limits, sealing, tips
from casework.api import serializers as s
from casework.api.auth import untracked_bearer
from casework.models import Case, CaseInspectorate, Tip
from core.views import RestrictedReadOnlyViewSet


def _content(data):
    return {**data, "coordinates": dict(data["coordinates"]) if data.get("coordinates") else None}


class _TipSubmission(APIView):
    """Open to anyone; rate- and size-limited per address (a keyed hash of it: casework.limits)."""

    def get_authenticators(self):
        return [untracked_bearer()]  # no session (a tip needs no CSRF dance), and the token's use not recorded

    permission_classes = [AllowAny]
    throttle_classes = [limits.TipAddressThrottle]

    def charge(self, request):
        limits.charge_bytes(request, int(request.META.get("CONTENT_LENGTH") or 0))


class TipAdditionView(_TipSubmission):
    @extend_schema(
        request=s.AdditionInputSerializer,
        responses={201: s.AdditionReceiptSerializer},
        summary="Add to a tip with its receipt code (sealed like the tip)",
    )
    def post(self, request):
        self.charge(request)
        body = s.AdditionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = _content(body.validated_data)
        row = tips.add(request.user, data.pop("receipt"), data)
        out = {"received_at": row.received_at, "log_index": row.log_index}
        return Response(s.AdditionReceiptSerializer(out).data, status=status.HTTP_201_CREATED)


REF = OpenApiParameter("ref", str, OpenApiParameter.PATH, description="The tip's reference (a UUID).")


class TipViewSet(RestrictedReadOnlyViewSet):
    """Tips, for the treaty body only: received time, size, state in plaintext; the body opened only where
    this deployment holds the private key (`readable`)."""

    queryset = Tip.objects.all()
    serializer_class = s.TipSerializer
    lookup_field = "ref"
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def _submitting(self):
        # POST tips/ is open to anyone (its own authentication, permission and limits); the rest is the
        # treaty body's. Read before DRF sets self.action: the router's map of this route's methods.
        request = getattr(self, "request", None)
        if request is None or getattr(request, "method", None) is None:  # the schema generator asks per action
            return getattr(self, "action", None) == "create"
        return (getattr(self, "action_map", None) or {}).get(request.method.lower()) == "create"

    def get_authenticators(self):
        return [untracked_bearer()] if self._submitting() else super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self._submitting() else super().get_permissions()

    def get_throttles(self):
        return [limits.TipAddressThrottle()] if self._submitting() else super().get_throttles()

    @extend_schema(
        request=s.TipInputSerializer,
        responses={201: s.TipReceiptSerializer},
        summary="Send a tip to the treaty body (no account needed); sealed at once, answered with a receipt code",
    )
    def create(self, request):
        limits.charge_bytes(request, int(request.META.get("CONTENT_LENGTH") or 0))
        body = s.TipInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        tip, receipt = tips.submit(request.user, _content(body.validated_data))
        out = {"tip": tip.ref, "receipt": receipt, "received_at": tip.received_at, "log_index": tip.log_index}
        return Response(s.TipReceiptSerializer(out).data, status=status.HTTP_201_CREATED)

    def get_queryset(self):
        return (
            Tip.objects.restrict(self.request.user).select_related("case", "triaged_by").prefetch_related("additions")
        )

    @extend_schema(parameters=[REF], responses=s.TipDetailSerializer)
    def retrieve(self, request, ref=None):
        tip = self.get_object()
        try:
            opened = tips.read(tip)
        except sealing.Unreadable:
            opened = None
        return Response(s.TipDetailSerializer(tip, context={"opened": opened}).data)

    @extend_schema(parameters=[REF], request=s.TriageInputSerializer, responses=s.TipSerializer)
    @action(detail=True, methods=["post"])
    def triage(self, request, ref=None):
        """Into a new case (`title`), into an existing one (`case`: its code), or dismissed (`reason`)."""
        tip = self.get_object()
        cases.require_worker(request.user)
        body = s.TriageInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        tips.triage(request.user, tip, d["action"], title=d["title"], case_code=d["case"], reason=d["reason"])
        return Response(s.TipSerializer(self.get_queryset().get(pk=tip.pk)).data)


CODE = OpenApiParameter("code", str, OpenApiParameter.PATH, description="The case's code, e.g. CASE-2026-0001.")


class CaseViewSet(RestrictedReadOnlyViewSet):
    """Cases: all for the treaty body; for an inspectorate, those the treaty body added it to (read only)."""

    queryset = Case.objects.all()
    serializer_class = s.CaseSerializer
    lookup_field = "code"
    lookup_value_regex = "[A-Za-z0-9-]{1,20}"

    def get_queryset(self):
        members = Prefetch("inspectorates", queryset=CaseInspectorate.objects.select_related("organisation"))
        qs = Case.objects.restrict(self.request.user).select_related("opened_by").prefetch_related(members)
        if self.action != "list":
            qs = qs.prefetch_related("links__added_by", "steps__by")
        return qs

    def get_serializer_class(self):
        return s.CaseSerializer if self.action == "list" else s.CaseDetailSerializer

    def _case(self):
        case = self.get_object()  # 404 for whoever does not see it
        cases.require_worker(self.request.user)  # 403 for a reader who may not change it
        return case

    def _detail(self, case, code=status.HTTP_200_OK):
        return Response(s.CaseDetailSerializer(self.get_queryset().get(pk=case.pk)).data, status=code)

    @extend_schema(request=s.CaseInputSerializer, responses={201: s.CaseDetailSerializer})
    def create(self, request):
        """Open a case (the treaty body)."""
        cases.require_worker(request.user)
        body = s.CaseInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._detail(cases.open_case(request.user, body.validated_data["title"]), status.HTTP_201_CREATED)

    @extend_schema(parameters=[CODE], request=s.LinkInputSerializer, responses={201: s.CaseDetailSerializer})
    @action(detail=True, methods=["post"])
    def links(self, request, code=None):
        """Link a finding, alert, answer, clarification request or challenge inspection (by its id)."""
        case = self._case()
        body = s.LinkInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cases.link(request.user, case, body.validated_data["kind"], body.validated_data["target"])
        return self._detail(case, status.HTTP_201_CREATED)

    @extend_schema(parameters=[CODE], request=s.StateInputSerializer, responses=s.CaseDetailSerializer)
    @action(detail=True, methods=["post"])
    def state(self, request, code=None):
        """Move the case: open, under_inspection, or closed (with a conclusion; final)."""
        case = self._case()
        body = s.StateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cases.set_state(request.user, case, body.validated_data["state"], body.validated_data["conclusion"])
        return self._detail(case)

    @extend_schema(parameters=[CODE], request=s.InspectorateInputSerializer, responses={201: s.CaseDetailSerializer})
    @action(detail=True, methods=["post"])
    def inspectorates(self, request, code=None):
        """Let an inspectorate read the case (its timeline from then on names it as a reader)."""
        case = self._case()
        body = s.InspectorateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cases.add_inspectorate(request.user, case, body.validated_data["organisation"])
        return self._detail(case, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[CODE, OpenApiParameter("organisation", str, OpenApiParameter.PATH)],
        request=None,
        responses={200: s.CaseDetailSerializer},
    )
    @action(detail=True, methods=["delete"], url_path=r"inspectorates/(?P<organisation>[A-Za-z0-9_.-]{1,32})")
    def remove_inspectorate(self, request, code=None, organisation=None):
        """Take an inspectorate off the case."""
        case = self._case()
        cases.remove_inspectorate(request.user, case, organisation)
        return self._detail(case)
