"""Alert delivery: Standard Webhooks signatures checked by an independent library, retries,
one message per webhook-id, dead letters and replay, SSRF refusal, e-mail, subscriber filters.

Celery runs eagerly here, where a failed try is not re-enqueued (countdowns
would be ignored); the tests drive retries with the periodic sweep task, as
a beat would, with backoff shortened to fractions of a second.
"""

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.urls import include, path, resolve
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from compliance.delivery import notify, payload_for, sender, tasks
from compliance.delivery.destinations import DestinationRefused, check
from compliance.models import Alert, AlertEvidence, AlertTransition, Delivery, DeliveryState, Subscription
from tests.factories import UserFactory
from transparency.events import append_event

# ROOT_URLCONF while config/urls.py does not route the delivery API (yet).
urlpatterns = [path("api/v1/", include("compliance.api.delivery_urls"))]
handler404 = "core.problems.handler404"


@pytest.fixture(autouse=True)
def delivery_env(settings, tmp_path):
    try:
        resolve("/api/v1/webhooks/key")
    except Exception:  # not routed there, or config/urls.py does not import
        settings.ROOT_URLCONF = __name__
    settings.CHIPREG_WEBHOOK_KEY_PATH = tmp_path / "webhook-key.pem"
    settings.CHIPREG_LOG_KEY_PATH = tmp_path / "log-key.pem"
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 0
    settings.CHIPREG_WEBHOOK_RETRY_BASE_S = 0.05
    settings.CHIPREG_WEBHOOK_RETRY_MAX_WAIT_S = 0.2
    settings.CHIPREG_WEBHOOK_TIMEOUT_S = 5
    settings.CHIPREG_WEBHOOK_ALLOWED_HOSTS = []
    conf = tasks.deliver.app.conf
    eager, conf.task_always_eager = conf.task_always_eager, True
    yield
    conf.task_always_eager = eager


class Receiver:
    """A webhook endpoint: verifies v1 with `standardwebhooks`, dedupes on webhook-id.

    fail_before: requests answered 500 before processing (the endpoint is down);
    fail_after: requests processed, then answered 500 (the acknowledgement is lost).
    """

    def __init__(self, fail_before=0, fail_after=0, always_fail=False):
        self.fail_before, self.fail_after, self.always_fail = fail_before, fail_after, always_fail
        self.secret = None
        self.requests, self.processed, self.errors, self.seen = [], [], [], set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(receiver.handle({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/chipreg?x=1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, headers, body):
        with self.lock:
            self.requests.append((headers, body))
            if self.always_fail:
                return 500
            if self.fail_before:
                self.fail_before -= 1
                return 500
            try:
                message = Webhook(self.secret).verify(body, headers)
            except Exception as exc:
                self.errors.append(repr(exc))
                return 400
            if headers["webhook-id"] not in self.seen:
                self.seen.add(headers["webhook-id"])
                self.processed.append(message)
            if self.fail_after:
                self.fail_after -= 1
                return 500
            return 204


@pytest.fixture
def receivers():
    made = []

    def make(**kwargs):
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.server.shutdown()
        r.server.server_close()


def make_alert(parties, severity="high", country="US", kind="threshold"):
    alert = Alert.objects.create(
        kind=kind,
        group=f"test:{uuid.uuid4().hex}",
        scope="facility",
        subject_key="1",
        subject_label="Facility IAD-1",
        operator=parties.op_a,
        country=country,
        severity=severity,
        title=f"Chip count: Facility IAD-1 at 5 ≥ 3 ({severity})",
        value=5,
        threshold=3,
    )
    AlertEvidence.objects.create(
        alert=alert, value=5, threshold=3, comparison="ge", chip_count=5, chips_sha256="ab" * 32
    )
    alert.log_index = append_event(
        "alert.raised", f"alert:{alert.pk}", {"alert": alert.pk, "country": country}, parties=["op-a"]
    )
    alert.save(update_fields=["log_index"])
    AlertTransition.objects.create(alert=alert, to_state="open", reason="test", log_index=alert.log_index)
    return alert


def subscribe(client, **fields):
    response = client.post("/api/v1/subscriptions/", {"name": "alerts", "min_severity": "low", **fields})
    assert response.status_code == 201, response.content
    return response.json()


def drive(delivery, states, timeout=10):
    """Run the periodic sweep until the delivery reaches one of `states`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        delivery.refresh_from_db()
        if delivery.state in states:
            return delivery
        tasks.deliver_due()
        time.sleep(0.02)
    raise AssertionError(f"delivery {delivery.pk} still {delivery.state}")


def verify_v1a(whpk, headers, body):
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(whpk.removeprefix("whpk_")))
    signatures = [s.split(",", 1) for s in headers["webhook-signature"].split(" ")]
    v1a = [base64.b64decode(sig) for version, sig in signatures if version == "v1a"]
    assert len(v1a) == 1
    key.verify(v1a[0], f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body)


def test_webhook_signed_retried_and_processed_once(parties, api, settings, receivers):
    settings.CHIPREG_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = receivers(fail_before=1, fail_after=1)
    treaty = api(parties.users["treaty"])
    created = subscribe(treaty, webhook_url=receiver.url, min_severity="medium")
    assert created["secret"].startswith("whsec_") and len(base64.b64decode(created["secret"][6:])) == 32
    receiver.secret = created["secret"]
    alert = make_alert(parties)

    [delivery] = notify(alert.pk, "alert.raised")
    delivery.refresh_from_db()
    # Eager mode: the failed first try is not re-enqueued at once; the sweep sends it when due.
    assert delivery.state == DeliveryState.RETRYING and len(receiver.requests) == 1
    assert delivery.next_attempt_at is not None
    drive(delivery, {DeliveryState.DELIVERED})

    assert [a.status_code for a in delivery.log.all()] == [500, 500, 204]
    assert delivery.attempts == 3 and delivery.delivered_at is not None
    assert {h["webhook-id"] for h, _ in receiver.requests} == {delivery.webhook_id}
    assert receiver.errors == [] and len(receiver.requests) == 3
    assert len(receiver.processed) == 1  # the receiver, deduplicating on webhook-id, acted once

    whpk = api().get("/api/v1/webhooks/key").json()["key"]
    assert whpk.startswith("whpk_") and len(base64.b64decode(whpk[5:])) == 32
    for headers, body in receiver.requests:
        Webhook(created["secret"]).verify(body, headers)
        verify_v1a(whpk, headers, body)
        assert headers["content-type"] == "application/json"
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60

    message = receiver.processed[0]
    assert message["type"] == "alert.raised" and message["alert"]["id"] == alert.pk
    assert message["alert"]["log_index"] == alert.log_index == message["log_index"]
    checkpoint_size = int(message["checkpoint"].splitlines()[1])
    assert checkpoint_size > alert.log_index  # the checkpoint's tree includes the alert's entry

    # Idempotent: the same event again queues nothing; a redelivered task sends nothing.
    assert notify(alert.pk, "alert.raised") == []
    assert Delivery.objects.filter(alert=alert).count() == 1
    assert sender.attempt(delivery.pk) == DeliveryState.DELIVERED and len(receiver.requests) == 3

    listing = treaty.get(f"/api/v1/deliveries/?state=delivered&alert={alert.pk}").json()["results"]
    assert [d["webhook_id"] for d in listing] == [delivery.webhook_id]
    detail = treaty.get(f"/api/v1/deliveries/{delivery.pk}/").json()
    assert [a["status_code"] for a in detail["log"]] == [500, 500, 204]
    assert "secret" not in treaty.get(f"/api/v1/subscriptions/{created['id']}/").json()
    assert api(parties.users["insp_us"]).get(f"/api/v1/deliveries/{delivery.pk}/").status_code == 404


def test_dead_letter_then_replay(parties, api, settings, receivers, django_capture_on_commit_callbacks):
    settings.CHIPREG_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CHIPREG_WEBHOOK_RETRY_HOURS = 0.4 / 3600
    receiver = receivers(always_fail=True)
    treaty = api(parties.users["treaty"])
    receiver.secret = subscribe(treaty, webhook_url=receiver.url)["secret"]
    [delivery] = notify(make_alert(parties).pk, "alert.raised")

    drive(delivery, {DeliveryState.DEAD})
    dead_attempts = delivery.attempts
    assert dead_attempts >= 3 and {a.status_code for a in delivery.log.all()} == {500}
    tasks.deliver_due()
    assert len(receiver.requests) == dead_attempts  # dead letters are not swept

    member = api(UserFactory(organisation=parties.treaty, role="member"))
    assert member.post(f"/api/v1/deliveries/{delivery.pk}/replay").status_code == 403
    assert api(parties.users["insp_us"]).post(f"/api/v1/deliveries/{delivery.pk}/replay").status_code == 404

    receiver.always_fail = False
    with django_capture_on_commit_callbacks(execute=True):
        response = treaty.post(f"/api/v1/deliveries/{delivery.pk}/replay")
    assert response.status_code == 200, response.content
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == dead_attempts + 1
    assert {h["webhook-id"] for h, _ in receiver.requests} == {delivery.webhook_id}
    assert len(receiver.processed) == 1 and receiver.errors == []
    again = treaty.post(f"/api/v1/deliveries/{delivery.pk}/replay")
    assert again.status_code == 409 and again.json()["code"] == "not_dead"


def test_jurisdiction_lost_stops_sending_and_replay(
    parties, api, settings, receivers, django_capture_on_commit_callbacks
):
    """An inspectorate that no longer has the alert's country is told nothing more of it: a delivery queued or
    retried from before is not sent, and a dead letter of it is not replayed (403 outside_jurisdiction)."""
    settings.CHIPREG_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CHIPREG_WEBHOOK_RETRY_HOURS = 0.4 / 3600
    receiver = receivers(always_fail=True)
    admin = api(UserFactory(organisation=parties.insp_us, role="admin"))
    receiver.secret = subscribe(admin, webhook_url=receiver.url)["secret"]
    [dead] = notify(make_alert(parties).pk, "alert.raised")
    drive(dead, {DeliveryState.DEAD})
    [retried] = notify(make_alert(parties).pk, "alert.raised")
    retried.refresh_from_db()
    assert retried.state == DeliveryState.RETRYING  # its first try failed (eager); the sweep retries it
    sent = len(receiver.requests)

    parties.insp_us.jurisdictions = ["CA"]
    parties.insp_us.save()
    receiver.always_fail = False
    drive(retried, {DeliveryState.DEAD, DeliveryState.DELIVERED})
    assert retried.state == DeliveryState.DEAD
    assert "no longer in the subscriber's jurisdictions" in retried.log.order_by("-pk").first().error
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/api/v1/deliveries/{dead.pk}/replay")
    assert response.status_code == 403 and response.json()["code"] == "outside_jurisdiction"
    # Nor is the undelivered alert shown on request (review of session 12): its delivery, yes; its message, no.
    never_sent = admin.get(f"/api/v1/deliveries/{retried.pk}/")
    assert never_sent.status_code == 200 and never_sent.json()["payload"] is None
    assert retried.alert.title not in never_sent.content.decode()
    assert retried.alert.subject_label not in never_sent.content.decode()
    dead.refresh_from_db()
    assert dead.state == DeliveryState.DEAD
    assert len(receiver.requests) == sent and receiver.processed == []

    parties.insp_us.jurisdictions = ["US"]  # given back: replayed as before
    parties.insp_us.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.post(f"/api/v1/deliveries/{dead.pk}/replay").status_code == 200
    dead.refresh_from_db()
    assert dead.state == DeliveryState.DELIVERED and len(receiver.processed) == 1
    assert admin.get(f"/api/v1/deliveries/{dead.pk}/").json()["payload"]["alert"]["id"] == dead.alert_id


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://0.0.0.0:8080/",
        "http://192.168.1.1/",
        "https://localhost/hook",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_private_destinations_refused_at_subscription(parties, api, url):
    response = api(parties.users["treaty"]).post("/api/v1/subscriptions/", {"webhook_url": url})
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "destination_refused"
    assert not Subscription.objects.exists()


def test_allow_list_and_schemes(settings):
    settings.CHIPREG_WEBHOOK_ALLOWED_HOSTS = ["localhost", "10.0.0.0/8"]
    check("http://localhost:8000/")
    check("http://10.1.2.3/")
    for url in ("http://127.0.0.1/", "ftp://example.org/", "http:///nohost", "http://192.168.0.1/"):
        with pytest.raises(DestinationRefused):
            check(url)


def test_destination_checked_again_at_send_time(parties, receivers):
    # Accepted once (or by an older rule), the host now resolves to loopback: refused, dead-lettered, nothing sent.
    receiver = receivers()
    Subscription.objects.create(
        organisation=parties.treaty, webhook_url=f"http://localhost:{receiver.port}/", secret="whsec_" + "A" * 44
    )
    [delivery] = notify(make_alert(parties).pk, "alert.raised")
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DEAD
    assert "destination refused" in delivery.log.get().error
    assert receiver.requests == []


def test_email_once_per_alert(parties, api, mailoutbox):
    subscribe(api(parties.users["insp_us"]), email="duty@insp.example", countries=["US"])
    alert = make_alert(parties)
    [delivery] = notify(alert.pk, "alert.raised")
    assert notify(alert.pk, "alert.raised") == []
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED and delivery.channel == "email"
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["duty@insp.example"] and alert.title in mail.subject
    assert delivery.webhook_id in mail.body and json.dumps(alert.pk) in mail.body


def test_severity_and_jurisdiction_filters(parties, api):
    subscribe(api(parties.users["insp_fr"]), email="fr@insp.example")
    subscribe(api(parties.users["treaty"]), email="high@treaty.example", min_severity="high")
    subscribe(api(parties.users["insp_us"]), email="us@insp.example", min_severity="medium")
    medium = notify(make_alert(parties, severity="medium").pk, "alert.raised")
    assert [d.subscription.email for d in medium] == ["us@insp.example"]
    high = notify(make_alert(parties, severity="high").pk, "alert.raised")
    assert sorted(d.subscription.email for d in high) == ["high@treaty.example", "us@insp.example"]


def test_subscription_api_rules(parties, api):
    assert api(parties.users["op_a_admin"]).post("/api/v1/subscriptions/", {"email": "a@b.example"}).status_code == 403
    assert api(parties.users["op_a_admin"]).get("/api/v1/subscriptions/").status_code == 403
    insp = api(parties.users["insp_us"])
    outside = insp.post("/api/v1/subscriptions/", {"email": "a@b.example", "countries": ["FR"]})
    assert outside.status_code == 400 and "countries" in outside.json()["errors"]
    assert insp.post("/api/v1/subscriptions/", {"name": "nowhere"}).status_code == 400

    created = subscribe(insp, email="a@b.example", countries=["us"])
    assert created["countries"] == ["US"]
    listed = insp.get("/api/v1/subscriptions/").json()["results"]
    assert [s["id"] for s in listed] == [created["id"]] and "secret" not in listed[0]
    assert api(parties.users["treaty"]).get(f"/api/v1/subscriptions/{created['id']}/").status_code == 404

    rotated = insp.post(f"/api/v1/subscriptions/{created['id']}/rotate-secret").json()["secret"]
    assert rotated.startswith("whsec_") and rotated != created["secret"]
    assert Subscription.objects.get(pk=created["id"]).secret == rotated

    notify(make_alert(parties).pk, "alert.raised")
    in_use = insp.delete(f"/api/v1/subscriptions/{created['id']}/")
    assert in_use.status_code == 409 and in_use.json()["code"] == "subscription_in_use"
    patched = insp.patch(f"/api/v1/subscriptions/{created['id']}/", {"active": False})
    assert patched.status_code == 200 and patched.json()["active"] is False
    spare = subscribe(insp, email="c@d.example")
    assert insp.delete(f"/api/v1/subscriptions/{spare['id']}/").status_code == 204


def test_backoff_grows_to_the_cap_within_the_retry_window(settings):
    settings.CHIPREG_WEBHOOK_RETRY_BASE_S = 30
    settings.CHIPREG_WEBHOOK_RETRY_MAX_WAIT_S = 7200
    waits = [sender.backoff(n) for n in range(1, 40)]
    assert 24 <= waits[0] <= 36 and 48 <= waits[1] <= 72
    assert max(waits) <= 7200 and waits[-1] >= 0.8 * 7200
    assert sender.backoff(1, retry_after=600) == 600
    # At most 2 h between tries, and tries continue for 24 h: a dozen or more in the window.
    assert sum(1 for total in _cumulative(waits) if total <= 24 * 3600) >= 12


def _cumulative(values):
    total = 0
    for v in values:
        total += v
        yield total


def test_event_payload_names_its_own_log_entry(parties):
    alert = make_alert(parties)
    resolved_at = append_event("alert.resolved", f"alert:{alert.pk}", {"alert": alert.pk}, parties=[], countries=[])
    AlertTransition.objects.create(alert=alert, from_state="open", to_state="resolved", log_index=resolved_at)
    payload = payload_for(alert, "alert.resolved")
    assert payload["log_index"] == resolved_at and payload["alert"]["log_index"] == alert.log_index
    assert int(payload["checkpoint"].splitlines()[1]) > resolved_at


def test_forwarded_message_names_another_subscription(parties, api, settings, receivers):
    """The `v1a` signature is the registry's, one key for every subscriber: a subscriber that forwards a genuine
    message to another's receiver must not pass it off as addressed there. The signed body names the
    subscription it was sent to, so the other receiver, checking `v1a` alone, sees it was not its own."""
    settings.CHIPREG_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    rival, victim = receivers(), receivers()
    first = subscribe(api(parties.users["treaty"]), webhook_url=rival.url)
    second = subscribe(api(parties.users["insp_us"]), webhook_url=victim.url)
    rival.secret, victim.secret = first["secret"], second["secret"]
    alert = make_alert(parties)

    deliveries = notify(alert.pk, "alert.raised")
    assert len(deliveries) == 2
    for receiver in (rival, victim):
        assert receiver.errors == [] and len(receiver.processed) == 1
    assert rival.processed[0]["subscription"] == first["id"]
    assert victim.processed[0]["subscription"] == second["id"]
    # The same event otherwise: one payload, one checkpoint.
    assert {k: v for k, v in rival.processed[0].items() if k != "subscription"} == {
        k: v for k, v in victim.processed[0].items() if k != "subscription"
    }

    # The rival replays its own message, headers and all, to the victim's receiver: `v1a` verifies (the
    # registry signed it), and the body says whose it was; `v1` (the victim's secret) refuses it outright.
    whpk = api().get("/api/v1/webhooks/key").json()["key"]
    headers, body = rival.requests[0]
    verify_v1a(whpk, headers, body)
    assert json.loads(body)["subscription"] != second["id"]
    with pytest.raises(WebhookVerificationError):
        Webhook(second["secret"]).verify(body, headers)
    # Nor can the body be re-addressed: the signature covers it.
    readdressed = json.dumps({**json.loads(body), "subscription": second["id"]}, separators=(",", ":"), sort_keys=True)
    with pytest.raises(InvalidSignature):
        verify_v1a(whpk, headers, readdressed.encode())


def test_every_transition_is_delivered_the_acknowledgement_too(parties, api):
    """A client of the README's alert delivery, 2026-12-07: `alert.acknowledged` is one of the events the README
    delivers, and was logged but never sent (only resolutions and dismissals were)."""
    from outbox.relay import drain_all

    subscribe(api(parties.users["treaty"]), email="duty@treaty.example")
    alert = make_alert(parties)
    client = api(parties.users["insp_us"])
    assert client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"reason": "seen"}).status_code == 200
    drain_all()
    assert client.post(f"/api/v1/alerts/{alert.pk}/resolve/", {"reason": "done"}).status_code == 200
    drain_all()
    events = list(Delivery.objects.filter(alert=alert).order_by("id").values_list("event", flat=True))
    assert events == ["alert.acknowledged", "alert.resolved"]
    acknowledged = Delivery.objects.get(alert=alert, event="alert.acknowledged")
    assert acknowledged.payload["log_index"] == alert.transitions.get(to_state="acknowledged").log_index
