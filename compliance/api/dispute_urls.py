"""Routes for answers and clarification requests, to be included under /api/v1/ after inventory's and compliance's."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from compliance.api import dispute_views as views

router = SimpleRouter()
router.register("answers", views.AnswerViewSet, basename="answer")
router.register("clarifications", views.ClarificationViewSet, basename="clarification")

urlpatterns = [
    path("findings/<str:id>/answers/", views.finding_answers, name="finding-answers"),
    path("findings/<str:id>/clarifications/", views.finding_clarifications, name="finding-clarifications"),
    path("alerts/<str:id>/answers/", views.alert_answers, name="alert-answers"),
    path("alerts/<str:id>/clarifications/", views.alert_clarifications, name="alert-clarifications"),
    *router.urls,
]
