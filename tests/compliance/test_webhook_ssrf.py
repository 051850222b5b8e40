"""Webhooks: no way into the registry's networks through an IPv6 address that embeds an
IPv4 one, and a receiver's answer is kept as a status and a length, never its words.

Before: `http://[2002:7f00:1::]/` (6to4 for 127.0.0.1) was accepted as a
subscription and called; a failing receiver's body was stored in the attempt
log and served to whoever reads it.
"""

import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from compliance.delivery import destinations, notify, tasks
from compliance.delivery.destinations import DestinationRefused, check
from compliance.models import Alert, AlertEvidence, AlertTransition, DeliveryAttempt, DeliveryState, Subscription
from transparency.events import append_event

EMBEDDING_PRIVATE = [
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254 (cloud metadata)
    "2002:c0a8:101::",  # 6to4 of 192.168.1.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:a00:1::1",  # Teredo, server 10.0.0.1
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:a9fe:a9fe",  # IPv4-mapped metadata
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::a00:1",  # NAT64 local-use prefix
]


@pytest.fixture(autouse=True)
def delivery_env(settings, tmp_path):
    settings.CHIPREG_WEBHOOK_KEY_PATH = tmp_path / "webhook-key.pem"
    settings.CHIPREG_WEBHOOK_RETRY_BASE_S = 0.05
    settings.CHIPREG_WEBHOOK_RETRY_MAX_WAIT_S = 0.2
    settings.CHIPREG_WEBHOOK_TIMEOUT_S = 5
    settings.CHIPREG_WEBHOOK_ALLOWED_HOSTS = []
    conf = tasks.deliver.app.conf
    eager, conf.task_always_eager = conf.task_always_eager, True
    yield
    conf.task_always_eager = eager


@pytest.mark.parametrize("address", EMBEDDING_PRIVATE)
def test_an_address_embedding_a_private_one_is_refused_at_subscription(parties, api, address):
    response = api(parties.users["treaty"]).post("/api/v1/subscriptions/", {"webhook_url": f"http://[{address}]/hook"})
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "destination_refused"
    assert not Subscription.objects.exists()


def test_a_6to4_address_of_a_public_one_is_still_a_destination():
    check("http://[2002:808:808::1]/hook")  # 6to4 of 8.8.8.8


def _resolving(monkeypatch, name, address):
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == name:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(destinations.socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("address", ["2002:7f00:1::", "64:ff9b::a9fe:a9fe", "2001:0:4136:e378:8000:63bf:80ff:fffe"])
def test_a_name_that_resolves_to_an_embedding_address_is_refused(monkeypatch, address):
    _resolving(monkeypatch, "hook.example", address)
    with pytest.raises(DestinationRefused) as refused:
        check("https://hook.example/")
    assert address not in str(refused.value)  # the resolver is no oracle for internal names


def _alert(parties):
    alert = Alert.objects.create(
        kind="threshold",
        group=f"test:{uuid.uuid4().hex}",
        scope="facility",
        subject_key="1",
        subject_label="Facility IAD-1",
        operator=parties.op_a,
        country="US",
        severity="high",
        title="Chip count: Facility IAD-1 at 5 ≥ 3 (high)",
        value=5,
        threshold=3,
    )
    AlertEvidence.objects.create(
        alert=alert, value=5, threshold=3, comparison="ge", chip_count=5, chips_sha256="ab" * 32
    )
    alert.log_index = append_event(
        "alert.raised", f"alert:{alert.pk}", {"alert": alert.pk, "country": "US"}, parties=["op-a"]
    )
    alert.save(update_fields=["log_index"])
    AlertTransition.objects.create(alert=alert, to_state="open", reason="test", log_index=alert.log_index)
    return alert


def test_delivery_time_dns_to_6to4_loopback_is_refused(parties, monkeypatch):
    """Accepted while the name was public; now it resolves to 6to4 of 127.0.0.1: dead-lettered, nothing sent."""
    Subscription.objects.create(
        organisation=parties.treaty, webhook_url="https://hook.example/in", secret="whsec_" + "A" * 44
    )
    _resolving(monkeypatch, "hook.example", "2002:7f00:1::")
    connected = []

    def create_connection(address, *args, **kwargs):
        connected.append(address)
        raise OSError("the test allows no connection")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    [delivery] = notify(_alert(parties).pk, "alert.raised")
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DEAD
    assert "destination refused" in delivery.log.get().error
    assert connected == []


SECRET = "internal-admin-page: db password hunter2 " * 20


class _Talkative(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = SECRET.encode()
        self.send_response(500)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def talkative_receiver(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Talkative)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.CHIPREG_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_a_receivers_error_body_is_kept_as_a_length_only(parties, api, talkative_receiver):
    treaty = api(parties.users["treaty"])
    created = treaty.post(
        "/api/v1/subscriptions/", {"name": "x", "min_severity": "low", "webhook_url": talkative_receiver}
    )
    assert created.status_code == 201, created.content
    [delivery] = notify(_alert(parties).pk, "alert.raised")
    attempt = DeliveryAttempt.objects.filter(delivery=delivery).first()
    assert attempt.status_code == 500
    assert attempt.response_bytes == len(SECRET.encode())
    assert "hunter2" not in attempt.error
    served = treaty.get(f"/api/v1/deliveries/{delivery.pk}/")
    assert served.status_code == 200, served.content
    assert "hunter2" not in served.content.decode()
    assert served.json()["log"][0]["status_code"] == 500
    assert served.json()["log"][0]["response_bytes"] == len(SECRET.encode())


def test_an_internal_name_and_a_name_that_does_not_exist_are_refused_alike(monkeypatch):
    """The subscriber reads the refusal: 'resolves to a non-public address' against 'does not resolve' told it
    which internal host names exist."""
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host == "db.internal.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]
        if host == "nothing.internal.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    answers = []
    for host in ("db.internal.example", "nothing.internal.example"):
        with pytest.raises(DestinationRefused) as refused:
            check(f"https://{host}/hook")
        answers.append(str(refused.value).replace(host, "HOST"))
    assert answers[0] == answers[1]
