from rest_framework.routers import SimpleRouter

from attestations.api import views

# LOG.md writes `/attestations/{id}/receipt` without a trailing slash: accept both.
router = SimpleRouter()
router.trailing_slash = "/?"  # the constructor turns any true value into "/"
router.register("keys", views.SigningKeyViewSet)
router.register("landmarks", views.LandmarkViewSet)
router.register("attestations", views.AttestationViewSet)
router.register("rejections", views.RejectionViewSet)
router.register("usage", views.UsageViewSet, basename="usage")

urlpatterns = router.urls
