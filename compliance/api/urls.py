from rest_framework.routers import SimpleRouter

from compliance.api import views

router = SimpleRouter()
router.register("thresholds", views.ThresholdRuleViewSet)
router.register("aggregates", views.AggregateViewSet)
router.register("alerts", views.AlertViewSet)

urlpatterns = router.urls
