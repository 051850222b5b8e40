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
router.register("challenges", views.ChallengeViewSet, basename="challenge")
router.register("delegations", views.DelegationViewSet)
# /chips/{id}/evidence/ and /chips/{id}/identity/: the chip routes of the registry are its own (registry.api).
router.register("chips", views.ChipHardwareViewSet, basename="chip-hardware")

urlpatterns = router.urls
