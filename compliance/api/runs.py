"""`/api/v1/runs/`: operators declare training runs, the treaty body reviews them (compliance.run_review)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from compliance import run_review
from compliance.api import run_serializers as s
from core.views import RestrictedViewSetMixin
from runs import services as runs
from runs import totals
from runs.models import Run


class RunViewSet(RestrictedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Declared training runs. An operator declares (POST) before the run starts and may withdraw it before
    then; the treaty body approves or objects while it is under review; each a log event."""

    queryset = Run.objects.select_related("operator", "declared_by", "decided_by", "withdrawn_by").prefetch_related(
        "facilities", "clusters__facility"
    )
    serializer_class = s.RunSerializer
    filterset_fields = ["state", "kind", "precision"]
    lookup_field = "code"
    lookup_value_regex = r"[^/]+"

    def _answer(self, runs_, **kwargs):
        context = {**self.get_serializer_context(), "attested": totals.attested([r.pk for r in runs_])}
        return s.RunSerializer(runs_, context=context, **kwargs).data

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self._answer(page, many=True))

    def retrieve(self, request, code=None):
        return Response(self._answer([self.get_object()], many=True)[0])

    def _fresh(self, run):
        return (
            self.get_queryset()
            .model.objects.select_related("operator")
            .prefetch_related("facilities", "clusters__facility")
            .get(pk=run.pk)
        )

    @extend_schema(request=s.RunDeclarationSerializer, responses={201: s.RunSerializer})
    def create(self, request):
        runs.require_declarer(request.user)
        body = s.RunDeclarationSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        run = run_review.declare(request.user, body.validated_data)
        return Response(self._answer([self._fresh(run)], many=True)[0], status=status.HTTP_201_CREATED)

    def _decide(self, request, approve):
        body = s.DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = run_review.decide(request.user, self.get_object(), approve, body.validated_data["reason"])
        return Response(self._answer([self._fresh(run)], many=True)[0])

    @extend_schema(request=s.DecisionSerializer, responses=s.RunSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, code=None):
        """The treaty body approves a run under review (within its review period)."""
        return self._decide(request, True)

    @extend_schema(request=s.DecisionSerializer, responses=s.RunSerializer)
    @action(detail=True, methods=["post"])
    def object(self, request, code=None):
        """The treaty body objects to a run under review, saying why (within its review period)."""
        return self._decide(request, False)

    @extend_schema(request=s.DecisionSerializer, responses=s.RunSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, code=None):
        """Its operator calls the run off before its planned start; the declaration stays."""
        body = s.DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = runs.withdraw(request.user, self.get_object(), body.validated_data["reason"])
        return Response(self._answer([self._fresh(run)], many=True)[0])
