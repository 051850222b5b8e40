from rest_framework.routers import SimpleRouter

from registry.api import disposal_views, views

router = SimpleRouter()
router.register("organisations", views.OrganisationViewSet)
router.register("users", views.UserViewSet)
router.register("tokens", views.APITokenViewSet)
router.register("models", views.AcceleratorModelViewSet)
router.register("chips", views.ChipViewSet)
router.register("disposals", disposal_views.DisposalViewSet)
router.register("watchlist", disposal_views.WatchListViewSet, basename="watchlist")
router.register("manufacturer-reports", disposal_views.ManufacturerReportViewSet)

urlpatterns = router.urls
