from rest_framework.routers import SimpleRouter

from compliance.api import runs, views

router = SimpleRouter()
router.register("thresholds", views.ThresholdRuleViewSet)
router.register("aggregates", views.AggregateViewSet)
router.register("alerts", views.AlertViewSet)
router.register("runs", runs.RunViewSet)

urlpatterns = router.urls
