"""Routes for tips and cases, included under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from casework.api import views

router = SimpleRouter()
router.register("tips", views.TipViewSet, basename="tip")
router.register("cases", views.CaseViewSet, basename="case")

urlpatterns = [
    # Before the router's tips/{ref}/ (a UUID, so never "additions"): anyone, with a receipt code.
    path("tips/additions/", views.TipAdditionView.as_view(), name="tip-additions"),
    *router.urls,
]
