from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.login_throttle import ThrottledAdminAuthenticationForm

# Admin's login form: says so when sign-in is refused by the failure throttle (core/login_throttle.py).
admin.site.login_form = ThrottledAdminAuthenticationForm

api_v1 = [
    path("", include("registry.api.urls")),
    path("", include("transparency.api.urls")),
    path("", include("inventory.api.urls")),
    path("", include("attestations.api.urls")),
    path("", include("compliance.api.urls")),
    path("", include("compliance.api.delivery_urls")),
    path("", include("compliance.api.dispute_urls")),
    path("", include("casework.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("ops.urls")),  # /healthz, /readyz, /metrics
    path("", include("console.urls")),
]

handler400 = "core.problems.handler400"
handler403 = "core.problems.handler403"
handler404 = "core.problems.handler404"
handler500 = "core.problems.handler500"
