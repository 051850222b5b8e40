"""The console's forms: each goes through the API's service, with CSRF, and shows a Problem's detail."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from tests.console.helpers import alert_for, parse_csv, text


def test_acknowledge_then_resolve_an_alert(login, demo):
    from compliance.models import AlertTransition

    alert = alert_for("Covered chip cluster")
    c = login("inspector")
    page = text(c.get(f"/alerts/{alert.pk}/"))
    assert "Acknowledge" in page and alert.evidence.first().chips_sha256 in page
    response = c.post(f"/alerts/{alert.pk}/acknowledge/", {"reason": "Site visit booked for next week."})
    assert response.status_code == 302 and response["Location"] == f"/alerts/{alert.pk}/"
    alert.refresh_from_db()
    assert alert.state == "acknowledged"
    last = AlertTransition.objects.filter(alert=alert).latest("id")
    assert (last.to_state, last.by, last.reason) == (
        "acknowledged",
        demo.users["inspector"],
        "Site visit booked for next week.",
    )
    assert last.log_index is not None
    page = text(c.get(f"/alerts/{alert.pk}/"))
    assert "Site visit booked for next week." in page and "Acknowledge</button>" not in page
    assert c.post(f"/alerts/{alert.pk}/resolve/", {"reason": "Declared and monitored."}).status_code == 302
    alert.refresh_from_db()
    assert alert.state == "resolved"


def test_a_reason_is_required_and_a_bad_transition_is_shown(login):
    alert = alert_for("Demo: 40 or more")
    c = login("treaty")
    response = c.post(f"/alerts/{alert.pk}/dismiss/", {"reason": "   "})
    assert response.status_code == 400
    alert.refresh_from_db()
    assert alert.state == "open"
    assert c.post(f"/alerts/{alert.pk}/dismiss/", {"reason": "demo rule"}).status_code == 302
    response = c.post(f"/alerts/{alert.pk}/acknowledge/", {"reason": "again"})
    assert response.status_code == 400
    assert "An alert that is dismissed cannot be acknowledged." in text(response)
    assert c.post(f"/alerts/{alert.pk}/explode/", {"reason": "x"}).status_code == 404
    assert c.get(f"/alerts/{alert.pk}/acknowledge/").status_code == 405


def test_operators_do_not_handle_alerts(login):
    alert = alert_for("Covered chip cluster")
    c = login("operator")
    assert "Handle this alert" not in text(c.get(f"/alerts/{alert.pk}/"))
    assert c.post(f"/alerts/{alert.pk}/acknowledge/", {"reason": "not mine to say"}).status_code == 403
    alert.refresh_from_db()
    assert alert.state == "open"


def test_forms_need_their_csrf_token(demo):
    alert = alert_for("Covered chip cluster")
    c = Client(enforce_csrf_checks=True)
    c.force_login(demo.users["inspector"])
    assert c.post(f"/alerts/{alert.pk}/acknowledge/", {"reason": "no token"}).status_code == 403
    page = c.get(f"/alerts/{alert.pk}/")
    token = page.cookies["csrftoken"].value
    response = c.post(f"/alerts/{alert.pk}/acknowledge/", {"reason": "with token", "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_alert_chip_list_download(login):
    alert = alert_for("Covered chip cluster")
    c = login("treaty")
    evidence = alert.evidence.first()
    response = c.get(f"/alerts/{alert.pk}/chips/?evidence={evidence.pk}")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    import hashlib

    assert hashlib.sha256(response.content).hexdigest() == evidence.chips_sha256
    rows = parse_csv(c.get(f"/alerts/{alert.pk}/chips/?format=csv"))
    assert rows[0] == ["chip"] and len(rows) == 41


def _csv_upload(name, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def test_record_an_inspection_with_a_csv(login, demo):
    from inventory.models import AnyFinding, Inspection

    c = login("inspector")
    form = text(c.get("/inspections/new/?facility=US-TX-001"))
    assert "US-TX-001" in form and "DE-FRA-001" not in form  # only the jurisdiction's facilities
    observed = "chip,cluster\n" + "".join(f"nvidia:1653824019{40 + i:03d},tx-1\n" for i in range(5))
    response = c.post(
        "/inspections/new/",
        {
            "facility": "US-TX-001",
            "performed_at": (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "inspectors": "C. Inspector, D. Inspector",
            "seals": "S-1",
            "notes": "Hall 2.",
            "observed": _csv_upload("observed.csv", observed),
        },
    )
    assert response.status_code == 302, text(response)
    inspection = Inspection.objects.get(facility__code="US-TX-001")
    assert response["Location"] == f"/inspections/{inspection.pk}/"
    assert inspection.inspectors == ["C. Inspector", "D. Inspector"] and inspection.observed_count == 5
    missing = AnyFinding.objects.filter(source="inspection", source_id=str(inspection.pk), kind="unaccounted")
    assert missing.count() == 5  # one H100 and four H200s were not seen
    page = text(c.get(response["Location"]))
    assert "Inspection" in page and "nvidia:1653924010000" in page
    rows = parse_csv(c.get(f"/inspections/{inspection.pk}/csv/"))
    assert rows[0] == ["chip", "cluster"] and rows[1] == ["nvidia:1653824019040", "tx-1"] and len(rows) == 6


def test_the_inspection_csv_lists_known_chips_and_unknown_references(login, demo):
    """The observed chips the registry knows and the references it does not are stored apart (docs/scaling.md,
    "Rows without a chip"): the CSV lists both, as stored (the known ones first, each in the upload's order)."""
    c = login("inspector")
    observed = "chip,cluster\nnvidia:GHOST000002,tx-1\nnvidia:1653924010000,tx-1\nnvidia:GHOST000001,\n"
    response = c.post(
        "/inspections/new/",
        {
            "facility": "US-TX-001",
            "performed_at": (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "observed": _csv_upload("observed.csv", observed),
        },
    )
    assert response.status_code == 302, text(response)
    rows = parse_csv(c.get(f"{response['Location']}csv/"))
    assert rows == [
        ["chip", "cluster"],
        ["nvidia:1653924010000", "tx-1"],
        ["nvidia:GHOST000002", "tx-1"],
        ["nvidia:GHOST000001", ""],
    ]


def test_inspection_form_errors_are_shown(login):
    c = login("inspector")
    when = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    bad = c.post(
        "/inspections/new/",
        {"facility": "US-VA-001", "performed_at": when, "observed": _csv_upload("x.csv", "serial\nabc\n")},
    )
    assert bad.status_code == 400 and "needs a header row with a &#x27;chip&#x27; column" in text(bad)
    outside = c.post(
        "/inspections/new/",
        {"facility": "DE-FRA-001", "performed_at": when, "observed": _csv_upload("x.csv", "chip\namd:MI300X-DE-000\n")},
    )
    assert outside.status_code == 400 and "Select a valid choice" in text(outside)
    unknown_cluster = c.post(
        "/inspections/new/",
        {
            "facility": "US-VA-001",
            "performed_at": when,
            "observed": _csv_upload("x.csv", "chip,cluster\nnvidia:1653824019000,nope\n"),
        },
    )
    assert unknown_cluster.status_code == 400 and "No cluster nope in facility US-VA-001" in text(unknown_cluster)


def test_only_inspectorates_record_inspections(login):
    for user in ("operator", "treaty"):
        c = login(user)
        assert c.get("/inspections/new/").status_code == 403
        assert c.post("/inspections/new/", {}).status_code == 403


def test_register_retire_and_revoke_keys(login, demo):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from attestations.models import Attestation, SigningKey

    c = login("operator")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    response = c.post("/keys/", {"name": "rack 7 agent", "pem": pem.decode()})
    assert response.status_code == 302
    new = SigningKey.objects.get(name="rack 7 agent")
    assert new.organisation == demo.users["operator"].organisation and new.log_index is not None
    page = text(c.get("/keys/"))
    assert new.keyid[:12] in page and "rack 7 agent" in page
    again = c.post("/keys/", {"name": "dup", "pem": pem.decode()})
    assert again.status_code == 400 and "already registered" in text(again)
    junk = c.post("/keys/", {"name": "junk", "pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"})
    assert junk.status_code == 400 and "not a usable PEM public key" in text(junk)

    assert c.post(f"/keys/{new.keyid}/retire/", {"at": ""}).status_code == 302
    new.refresh_from_db()
    assert new.retired_at is not None
    assert c.post(f"/keys/{new.keyid}/retire/", {}).status_code == 409

    demo_key = SigningKey.objects.exclude(pk=new.pk).get(organisation=demo.users["operator"].organisation)
    since = (timezone.now() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = c.post(f"/keys/{demo_key.keyid}/revoke/", {"since": since, "reason": "Laptop stolen."})
    assert response.status_code == 302
    demo_key.refresh_from_db()
    assert demo_key.revoked_since is not None
    flagged = Attestation.objects.filter(flagged=True).count()
    assert flagged == Attestation.objects.filter(issued_at__gte=demo_key.revoked_since).count() > 0
    assert "revoked" in text(c.get("/keys/"))
    assert c.post(f"/keys/{demo_key.keyid}/revoke/", {"since": "", "reason": ""}).status_code == 400


def test_another_operator_cannot_touch_a_key(login, demo):
    from attestations.models import SigningKey

    key = SigningKey.objects.get(organisation=demo.users["operator"].organisation)
    c = login("other-operator")
    assert key.keyid not in text(c.get("/keys/"))
    assert c.post(f"/keys/{key.keyid}/retire/", {}).status_code == 404
    assert c.post(f"/keys/{key.keyid}/revoke/", {"since": "2026-01-01T00:00", "reason": "x"}).status_code == 404
    key.refresh_from_db()
    assert key.retired_at is None and key.revoked_since is None


def test_submissions_show_rejections_with_their_reason(login):
    page = text(login("operator").get("/submissions/"))
    assert "unknown_key" in page and "no registered key with keyid" in page
    assert "stale_statement" in page
    assert "accepted" in page
    other = text(login("other-operator").get("/submissions/"))
    assert "unknown_key" not in other and "Nothing refused." in other


def test_search(login):
    c = login("inspector")
    response = c.get("/search/?q=1653824019000")
    assert response.status_code == 302 and response["Location"] == "/chips/nvidia:1653824019000/"
    response = c.get("/search/?q=NVIDIA:1653824019001")
    assert response.status_code == 302 and response["Location"] == "/chips/nvidia:1653824019001/"
    response = c.get("/search/?q= mi300x-de-000 ")
    assert response.status_code == 404 and "not found in your view" in text(response)
    assert login("inspector-de").get("/search/?q=mi300x-de-000")["Location"] == "/chips/amd:MI300X-DE-000/"
    for junk in ("no such thing!", "x:", "::", "a" * 200):
        assert c.get("/search/", {"q": junk}).status_code == 404
    assert c.get("/search/").status_code == 200
