from rest_framework.routers import SimpleRouter

from registry.api import views

router = SimpleRouter()
router.register("organisations", views.OrganisationViewSet)
router.register("users", views.UserViewSet)
router.register("tokens", views.APITokenViewSet)
router.register("models", views.AcceleratorModelViewSet)
router.register("chips", views.ChipViewSet)

urlpatterns = router.urls
