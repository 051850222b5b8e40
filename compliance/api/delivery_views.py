"""Alert subscriptions, their delivery log with dead-letter replay, and the webhook public key.

Only treaty bodies and inspectorates subscribe (operators and manufacturers
get 403), each seeing its own subscriptions and deliveries (registry
superusers: all). The symmetric secret is shown once, in the response that
created (or rotated) it, like API tokens.
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from compliance.api import delivery_serializers as s
from compliance.delivery import hears_of, sender, signing
from compliance.filters import DeliveryFilter
from compliance.models import Delivery, Subscription
from core.permissions import RolePermission
from core.problems import Problem
from core.views import RestrictedModelViewSet
from registry.choices import OrgKind, Role

SUBSCRIBER_KINDS = (OrgKind.TREATY_BODY, OrgKind.INSPECTORATE)


class SubscriberPermission(RolePermission):
    """RolePermission (writes need admin or member), and only subscribing kinds of organisation."""

    message = "Only treaty bodies and inspectorates subscribe to alerts."

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        user = request.user
        if user.is_superuser:
            return True
        org = getattr(user, "organisation", None)
        return org is not None and org.kind in SUBSCRIBER_KINDS


class SubscriptionViewSet(RestrictedModelViewSet):
    queryset = Subscription.objects.all()
    serializer_class = s.SubscriptionSerializer
    permission_classes = [SubscriberPermission]
    filterset_fields = ["active", "min_severity"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(responses={201: s.NewSubscriptionSerializer})
    def create(self, request, *args, **kwargs):
        if getattr(request.user, "organisation", None) is None:
            raise exceptions.PermissionDenied("You belong to no organisation.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request.user
        sub = serializer.save(organisation=user.organisation, created_by=user, secret=signing.new_secret())
        return Response({**serializer.data, "secret": sub.secret}, status=201)

    def perform_destroy(self, instance):
        if instance.deliveries.exists():
            raise Problem(
                409, "subscription_in_use", "It has a delivery log, which is kept; set active to false instead."
            )
        instance.delete()

    @extend_schema(request=None, responses=s.SubscriptionSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new symmetric secret, shown this once; retries still pending are signed with it."""
        sub = self.get_object()
        sub.secret = signing.new_secret()
        sub.save(update_fields=["secret"])
        return Response({"id": sub.pk, "secret": sub.secret})


class DeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    """Messages to your organisation's subscriptions, with every attempt; administrators replay dead letters."""

    queryset = Delivery.objects.select_related("subscription__organisation", "alert")
    serializer_class = s.DeliverySerializer
    permission_classes = [SubscriberPermission]
    filterset_class = DeliveryFilter

    def get_queryset(self):
        # Delivery has no restrict() of its own: it is visible exactly when its subscription is.
        visible = Subscription.objects.restrict(self.request.user, "view")
        qs = super().get_queryset().filter(subscription__in=visible)
        if self.action != "list":
            qs = qs.prefetch_related("log")
        return qs

    def get_serializer_class(self):
        return s.DeliverySerializer if self.action == "list" else s.DeliveryDetailSerializer

    @extend_schema(request=None, responses=s.DeliveryDetailSerializer)
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        """Send a dead letter again: same webhook-id, a fresh retry window."""
        delivery = self.get_object()
        user = request.user
        is_admin = user.role == Role.ADMIN and user.organisation_id == delivery.subscription.organisation_id
        if not (user.is_superuser or is_admin):
            raise exceptions.PermissionDenied("Only an administrator of the subscribing organisation may replay.")
        if not hears_of(delivery.subscription.organisation, delivery.alert):
            raise Problem(
                403,
                "outside_jurisdiction",
                "The alert's country is no longer in your organisation's jurisdictions: it is not sent again.",
            )
        if not sender.replay(delivery.pk):  # enqueues the send once its transaction commits
            raise Problem(409, "not_dead", f"Only dead deliveries are replayed; this one is {delivery.state}.")
        delivery = self.get_queryset().get(pk=delivery.pk)
        return Response(s.DeliveryDetailSerializer(delivery).data)


@extend_schema(
    responses=inline_serializer(
        "WebhookKey",
        {"key": serializers.CharField(), "algorithm": serializers.CharField(), "signature": serializers.CharField()},
    ),
    summary="The registry's webhook public key (Standard Webhooks whpk_, for v1a signatures)",
)
@api_view(["GET"])
@permission_classes([AllowAny])
def webhook_key_view(request):
    return Response({"key": signing.public_key_whpk(), "algorithm": "ed25519", "signature": "v1a"})
