"""Routes for alert delivery, to be included under /api/v1/ (trailing slash optional)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from compliance.api import delivery_views as views

router = SimpleRouter()
router.trailing_slash = "/?"  # the constructor only knows "/" or ""
router.register("subscriptions", views.SubscriptionViewSet, basename="subscription")
router.register("deliveries", views.DeliveryViewSet, basename="delivery")

urlpatterns = [
    path("webhooks/key", views.webhook_key_view, name="webhook-key"),
    *router.urls,
]
