from rest_framework.routers import SimpleRouter

from inventory.api import challenges, views

router = SimpleRouter()
router.register("facilities", views.FacilityViewSet)
router.register("campuses", views.CampusViewSet)
router.register("clusters", views.ClusterViewSet)
router.register("links", views.NetworkLinkViewSet)
router.register("workload-groups", views.WorkloadGroupViewSet)
router.register("placements", views.PlacementViewSet)
router.register("transfers", views.TransferViewSet)
router.register("declarations", views.DeclarationViewSet)
router.register("inspections", views.InspectionViewSet)
router.register("findings", views.FindingViewSet)
router.register("challenge-inspections", challenges.ChallengeInspectionViewSet)
router.register("challenge-rules", challenges.ChallengeRuleViewSet)

urlpatterns = router.urls
