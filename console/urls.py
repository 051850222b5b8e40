from functools import wraps

from django.contrib.auth import views as auth_views
from django.urls import path

from console import views
from console.access import secure
from core.login_throttle import ThrottledAuthenticationForm

app_name = "console"


def _secured(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        return secure(view(request, *args, **kwargs))

    return wrapper


urlpatterns = [
    path(
        "login/",
        _secured(
            auth_views.LoginView.as_view(
                template_name="console/login.html",
                redirect_authenticated_user=True,
                next_page="/",
                authentication_form=ThrottledAuthenticationForm,  # says so when failures lock sign-in
            )
        ),
        name="login",
    ),
    path("logout/", _secured(auth_views.LogoutView.as_view(next_page="/login/")), name="logout"),
    path("", views.dashboard, name="dashboard"),
    path("map/", views.facility_map, name="map"),
    path("search/", views.search, name="search"),
    path("facilities/", views.facility_list, name="facilities"),
    path("facilities/<str:code>/", views.facility_detail, name="facility"),
    path("facilities/<str:code>/reconciliation/", views.facility_reconciliation, name="reconciliation"),
    path("chips/<str:public_id>/", views.chip_detail, name="chip"),
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert"),
    path("alerts/<int:pk>/chips/", views.alert_chips, name="alert-chips"),
    path("alerts/<int:pk>/bundle/", views.alert_bundle, name="alert-bundle"),
    # Before the transitions' catch-all: answers and requests about an alert, and about a finding.
    path("alerts/<int:pk>/answer/", views.answer_new, {"kind": "alert"}, name="alert-answer"),
    path("alerts/<int:pk>/clarify/", views.clarify, {"kind": "alert"}, name="alert-clarify"),
    path("alerts/<int:pk>/<str:action>/", views.alert_transition, name="alert-transition"),
    path("findings/<int:pk>/", views.finding_detail, name="finding"),
    path("findings/<int:pk>/answer/", views.answer_new, {"kind": "finding"}, name="finding-answer"),
    path("findings/<int:pk>/clarify/", views.clarify, {"kind": "finding"}, name="finding-clarify"),
    path("answers/<int:pk>/decide/", views.answer_decide, name="answer-decide"),
    path("answers/<int:pk>/attachments/<int:position>/", views.answer_attachment, name="answer-attachment"),
    path("answers-due/", views.answers_due, name="answers-due"),
    path("disposals/", views.disposal_list, name="disposals"),
    path("disposals/<int:pk>/attachments/<int:position>/", views.disposal_attachment, name="disposal-attachment"),
    path("disposals/<int:pk>/<str:action>/", views.disposal_decision, name="disposal-decision"),
    path("watchlist/", views.watchlist, name="watchlist"),
    path("runs/", views.run_list, name="runs"),
    path("runs/review/", views.run_queue, name="run-queue"),
    path("runs/<str:code>/", views.run_detail, name="run"),
    path("runs/<str:code>/<str:action>/", views.run_decision, name="run-decision"),
    path("exports/", views.export_approvals, name="export-approvals"),
    path("exports/<str:pk>/<str:action>/", views.export_decision, name="export-decision"),
    path("inspections/", views.inspection_list, name="inspections"),
    path("inspections/new/", views.inspection_new, name="inspection-new"),
    path("inspections/<int:pk>/", views.inspection_detail, name="inspection"),
    path("inspections/<int:pk>/csv/", views.inspection_csv, name="inspection-csv"),
    path("challenge-inspections/", views.challenge_list, name="challenges"),
    path("challenge-inspections/new/", views.challenge_new, name="challenge-new"),
    path("challenge-inspections/<int:pk>/", views.challenge_detail, name="challenge"),
    path("challenge-inspections/<int:pk>/<str:action>/", views.challenge_step, name="challenge-step"),
    path("keys/", views.keys, name="keys"),
    path("keys/<str:keyid>/retire/", views.key_retire, name="key-retire"),
    path("keys/<str:keyid>/revoke/", views.key_revoke, name="key-revoke"),
    path("submissions/", views.submissions, name="submissions"),
    # Tips and cases (issue 19): the treaty body's inbox and casework.
    path("tips/", views.tip_list, name="tips"),
    path("tips/<uuid:ref>/", views.tip_detail, name="tip"),
    path("tips/<uuid:ref>/triage/", views.tip_triage, name="tip-triage"),
    path("cases/", views.case_list, name="cases"),
    path("cases/new/", views.case_new, name="case-new"),
    path("cases/<str:code>/", views.case_detail, name="case"),
    path("cases/<str:code>/<str:action>/", views.case_action, name="case-action"),
]
