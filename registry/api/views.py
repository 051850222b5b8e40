from django.db import transaction
from django.db.models import Q
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from core.parsers import JSONParser, RowJSONParser
from core.permissions import IsOrgAdmin, RolePermission
from core.problems import Problem
from core.views import RestrictedModelViewSet, RestrictedViewSetMixin
from registry import authority, filters, records
from registry.api import serializers as s
from registry.api.parsers import CSVParser
from registry.models import AcceleratorModel, APIToken, Chip, ChipEvent, Organisation, User
from registry.registration import register_chips
from registry.services import IDENTITY_FIELDS, change_chip


class OrganisationViewSet(RestrictedModelViewSet):
    """The parties: treaty bodies, inspectorates, operators, manufacturers.

    Everyone may read the directory; registry administrators create
    organisations; an organisation's admins may rename it; its kind, country
    and jurisdictions are changed only by registry administrators and the
    treaty body (403 `reserved_field`). Every change is a log event.
    """

    queryset = Organisation.objects.all()
    serializer_class = s.OrganisationSerializer
    filterset_class = filters.OrganisationFilter
    lookup_field = "code"
    http_method_names = ["get", "post", "patch", "head", "options"]


class UserViewSet(RestrictedModelViewSet):
    """People of your organisation; its admins add them and set their roles, never above their own,
    and never manage the registry's superusers or staff. Role and activation changes are log events."""

    queryset = User.objects.select_related("organisation")
    serializer_class = s.UserSerializer
    permission_classes = [IsOrgAdmin]
    filterset_fields = ["role", "is_active"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def perform_create(self, serializer):
        if self.request.user.organisation is None:
            raise exceptions.PermissionDenied("You belong to no organisation.")
        serializer.save()

    def not_changeable(self, lookup):
        # A registry administrator in the admin's own organisation: the README's `protected_user`, as
        # registry.authority answers it wherever else such a user is managed.
        if self.restricted("view").filter(**lookup).filter(Q(is_superuser=True) | Q(is_staff=True)).exists():
            return authority.protected_user()
        return super().not_changeable(lookup)


class APITokenViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your API tokens. The token is shown once, when created; DELETE revokes
    (the row stays, for the record)."""

    queryset = APIToken.objects.select_related("user")
    serializer_class = s.APITokenSerializer
    filterset_fields = ["revoked_at"]

    def get_permissions(self):
        # Any authenticated user, read-only ones included, manages their own tokens.
        from rest_framework.permissions import IsAuthenticated

        return [IsAuthenticated()]

    def get_serializer_class(self):
        return s.APITokenCreatedSerializer if self.action == "create" else s.APITokenSerializer

    def perform_destroy(self, instance):
        self._revoke(instance)

    @extend_schema(request=None, responses=s.APITokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = self._revoke(self.get_object())
        return Response(self.get_serializer(token).data)

    def _revoke(self, token):
        return records.revoke_token(token, self.request.user)


class AcceleratorModelViewSet(RestrictedModelViewSet):
    """The accelerator catalog. Treaty bodies correct figures; every correction is kept."""

    queryset = AcceleratorModel.objects.select_related("manufacturer")
    serializer_class = s.AcceleratorModelSerializer
    filterset_class = filters.AcceleratorModelFilter
    lookup_field = "slug"
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(responses=s.AcceleratorModelRevisionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def revisions(self, request, slug=None):
        model = self.get_object()
        page = self.paginate_queryset(model.revisions.select_related("changed_by").order_by("id"))
        return self.get_paginated_response(s.AcceleratorModelRevisionSerializer(page, many=True).data)


@extend_schema_view(
    create=extend_schema(
        request={
            # One chip as an object, or a list: the view has always taken both (registry.registration wraps an
            # object in a list), and the README shows both; the schema documented only the list.
            "application/json": PolymorphicProxySerializer(
                component_name="ChipRegistration",
                serializers=[s.ChipRegistrationRowSerializer, s.ChipRegistrationRowSerializer(many=True)],
                resource_type_field_name=None,
                many=False,
            ),
            "text/csv": {"type": "string", "description": "A header row, then one chip per line."},
        },
        responses={
            201: s.RegistrationResultSerializer,
            200: OpenApiResponse(s.RegistrationResultSerializer, description="Every chip was already registered."),
        },
        description=(
            "Register one chip (an object) or many (a JSON list, or a CSV upload with the same columns), "
            "up to 1,000,000 per request, all or nothing. Re-registering a chip with the same data is a "
            "no-op; with different data, a 409 naming the chip and the fields; a chip another party holds, "
            "a 409 saying only that it is registered to another party."
        ),
    ),
    partial_update=extend_schema(
        request=s.ChipChangeSerializer,
        responses=PolymorphicProxySerializer(
            component_name="ChipChangeResult",
            serializers=[s.ChipSerializer, s.ChipModelCorrectedSerializer],
            resource_type_field_name=None,
        ),
        description=(
            "The holder changes status and identity; a chip's model is corrected only by its manufacturer or "
            "the treaty body (403 `model_correction_reserved`), and a manufacturer that does not hold the chip "
            "gets back only its id and model; custody moves only through a transfer (403 `custody_by_transfer`)."
        ),
    ),
)
class ChipViewSet(RestrictedModelViewSet):
    """Chips by public id `<manufacturer>:<serial>`."""

    queryset = Chip.objects.select_related(
        "manufacturer", "model", "custodian", "registered_by", "hardware_identity__enrolled_by"
    )
    serializer_class = s.ChipSerializer
    filterset_class = filters.ChipFilter
    lookup_value_regex = r"[^/]+"
    parser_classes = [JSONParser, CSVParser]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_parsers(self):
        # The bulk registration (POST to the list) names the row and field of a NUL or a surrogate itself
        # (invalid_rows); a change of one chip is refused at the parser like any other body.
        if "pk" not in self.kwargs:
            return [RowJSONParser(), CSVParser()]
        return super().get_parsers()

    def get_object(self):
        public_id = self.kwargs["pk"]
        chip = self.filter_queryset(self.get_queryset()).by_public_id(public_id).first()
        if chip is None:
            if self.request.method not in SAFE_METHODS and self.restricted("view").by_public_id(public_id).exists():
                raise exceptions.PermissionDenied("You may see this chip but not change it.")
            raise exceptions.NotFound(f"No chip {public_id[:100]!r} in your view.")
        return chip

    def create(self, request, *args, **kwargs):
        result = register_chips(request.data, request.user)
        body = {
            "batch": result.batch.id if result.batch else None,
            "submitted": result.submitted,
            "created": result.created,
            "existing": result.submitted - result.created,
            "log_index": result.batch.log_index if result.batch else None,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)

    def partial_update(self, request, *args, **kwargs):
        fields = set(request.data) if isinstance(request.data, dict) else set()
        unknown = fields - set(s.ChipChangeSerializer().fields) - {"custodian"}
        if unknown:
            raise Problem(400, "invalid", f"Unknown or read-only fields: {', '.join(sorted(unknown))}.")
        chip, holds = self._chip_to_change(fields - {"reason"})
        # Who may change which field: registry.authority, before anything is parsed or stored.
        authority.check_chip_change(request.user, chip, fields - {"reason"}, holds=holds)
        change = s.ChipChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        data = change.validated_data
        with transaction.atomic():
            change_chip(
                chip,
                request.user,
                status=data.get("status"),
                model=data.get("model"),
                identity={f: data[f] for f in IDENTITY_FIELDS if f in data},
                reason=data.get("reason", ""),
            )
        chip.refresh_from_db()
        if not self.restricted("view").filter(pk=chip.pk).exists():
            # A manufacturer correcting a chip someone else holds learns nothing more of it.
            return Response({"id": chip.public_id, "model": chip.model.slug})
        return Response(self.get_serializer(chip).data)

    def _chip_to_change(self, fields):
        """(chip, whether the caller holds it): a holder's chip, or for a model correction alone,
        a chip whose model the caller may correct (its manufacturer, the treaty body)."""
        public_id = self.kwargs["pk"]
        chip = self.filter_queryset(self.get_queryset()).by_public_id(public_id).first()
        if chip is not None:
            return chip, True
        if fields == {"model"}:
            chip = authority.chips_with_model_authority(self.request.user, Chip.objects).by_public_id(public_id).first()
            if chip is not None:
                return chip, False
        return self.get_object(), True  # the 403 for a chip in view, else the 404

    @extend_schema(responses=s.ChipEventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        """Every change to the chip, oldest first (registration is the chip's batch); its holder reads its own
        acts, the rows of its own time with the chip and the model corrections (ChipEventQuerySet)."""
        chip = self.get_object()
        events = (
            ChipEvent.objects.restrict(request.user)
            .filter(chip=chip)
            .select_related("actor", "actor_organisation")
            .order_by("id")
        )
        page = self.paginate_queryset(events)
        return self.get_paginated_response(s.ChipEventSerializer(page, many=True).data)


__all__ = [
    "APITokenViewSet",
    "AcceleratorModelViewSet",
    "ChipViewSet",
    "OrganisationViewSet",
    "RolePermission",
    "UserViewSet",
]
