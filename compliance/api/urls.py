from rest_framework.routers import SimpleRouter

from compliance.api import export_views, runs, views

router = SimpleRouter()
router.register("thresholds", views.ThresholdRuleViewSet)
router.register("aggregates", views.AggregateViewSet)
router.register("alerts", views.AlertViewSet)
router.register("runs", runs.RunViewSet)
router.register("export-authorisations", export_views.ExportAuthorisationViewSet)
router.register("destination-rules", export_views.DestinationRuleViewSet)

urlpatterns = router.urls
