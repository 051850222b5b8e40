from django.urls import path
from rest_framework.routers import SimpleRouter

from transparency.api import views

router = SimpleRouter()
router.trailing_slash = "/?"  # the constructor turns any true value into "/"
router.register("log/witnesses", views.WitnessKeyViewSet, basename="witness")

urlpatterns = [
    path("log/checkpoint", views.checkpoint_view, name="log-checkpoint"),
    path("log/key", views.key_view, name="log-key"),
    path("log/entries/<str:index>", views.entry_view, name="log-entry"),
    path("log/proof/inclusion", views.inclusion_view, name="log-inclusion"),
    path("log/proof/consistency", views.consistency_view, name="log-consistency"),
    path("log/cosignatures", views.cosignature_view, name="log-cosignatures"),
    *router.urls,
]
