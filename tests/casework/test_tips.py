"""Tips (issue 19): sealed at rest to the treaty body's key, never a trace of the submitter's address or
token, receipt codes that add only to their own tip, rate and size limits per address, triage."""

import base64
import json
from pathlib import Path

import pytest
from django.db import connection
from nacl.public import PrivateKey, SealedBox

from casework import sealing
from casework.models import Case, Tip, TipAddition
from registry.models import APIToken
from transparency.models import LogEventData, LogLeaf

SECRET = "Rack 7 of the Ashburn hall runs 4096 undeclared H100s"
ADDRESS = "203.0.113.77"


def tip_body(**extra):
    return {
        "text": SECRET,
        "serials": ["nvidia:SECRET0001", "nvidia:SECRET0002"],
        "coordinates": {"lat": 38.95, "lon": -77.45},
        "attachments": [
            {"name": "photo.txt", "content_type": "text/plain", "content": base64.b64encode(b"hidden rack").decode()}
        ],
        **extra,
    }


def send(api, user=None, body=None, address=ADDRESS, path="/api/v1/tips/"):
    return api(user).post(path, body if body is not None else tip_body(), REMOTE_ADDR=address)


def raw_row(pk):
    """The tip's row as a database dump has it: every column, as text."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Tip._meta.db_table} WHERE id = %s", [pk])
        row = cursor.fetchone()
    return [bytes(v) if isinstance(v, memoryview) else v for v in row]


def dump_text(values):
    out = b""
    for v in values:
        out += v if isinstance(v, bytes) else str(v).encode()
        out += b"\x00"
    return out


@pytest.mark.django_db
def test_anonymous_tip_is_sealed_and_answered_with_a_receipt(api):
    r = send(api)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["receipt"].startswith("tip_") and len(body["receipt"]) > 40
    tip = Tip.objects.get(ref=body["tip"])
    assert tip.state == "new" and tip.size == len(bytes(tip.sealed))
    assert tip.receipt_sha256 != body["receipt"] and body["receipt"] not in dump_text(raw_row(tip.pk)).decode("latin-1")
    # The log event is the treaty body's: no parties, no countries; its leaf has no word of the tip.
    data = LogEventData.objects.get(index=body["log_index"])
    assert data.event == "tip.received" and data.parties == [] and data.countries == []
    assert SECRET not in data.data_jcs and "SECRET0001" not in data.data_jcs


@pytest.mark.django_db
def test_the_stored_body_cannot_be_read_without_the_private_key(api):
    """A database dump reveals nothing: no plaintext in the row; a wrong key does not open the box; the
    treaty body's key (a file outside the database) does."""
    tip = Tip.objects.get(ref=send(api).json()["tip"])
    row = dump_text(raw_row(tip.pk))
    for needle in (SECRET, "SECRET0001", "38.95", "hidden rack", base64.b64encode(b"hidden rack").decode()):
        assert needle.encode() not in row, needle
    with pytest.raises(Exception, match="decrypt"):
        SealedBox(PrivateKey.generate()).decrypt(bytes(tip.sealed))
    with pytest.raises(sealing.Unreadable):
        sealing.open_sealed(tip.sealed, PrivateKey.generate())
    opened = sealing.open_sealed(tip.sealed)  # the configured private key file
    assert opened["text"] == SECRET and opened["serials"] == ["nvidia:SECRET0001", "nvidia:SECRET0002"]
    assert opened["attachments"][0]["name"] == "photo.txt" and opened["submitter"] is None


@pytest.mark.django_db
def test_without_the_private_key_configured_triage_sees_that_it_cannot_read(api, parties, settings):
    ref = send(api).json()["tip"]
    treaty = api(parties.users["treaty"])
    settings.CHIPREG_TIPS_PRIVATE_KEY_FILE = ""
    r = treaty.get(f"/api/v1/tips/{ref}/")
    assert r.status_code == 200 and r.json()["readable"] is False and r.json()["body"] is None
    assert r.json()["size"] > 0 and r.json()["state"] == "new"


@pytest.mark.django_db
def test_no_public_key_no_tips(api, settings):
    settings.CHIPREG_TIPS_PUBLIC_KEY = ""
    settings.CHIPREG_TIPS_KEY_AUTOCREATE = False  # as in production settings
    before = Tip.objects.count(), LogLeaf.objects.count()
    r = send(api)
    assert r.status_code == 503 and r.json()["code"] == "tips_unavailable"
    assert (Tip.objects.count(), LogLeaf.objects.count()) == before


@pytest.mark.django_db
def test_development_makes_a_key_pair_once_in_the_var_folder(api, settings, tmp_path):
    """`make run`: no key configured, autocreate on (never in production settings): the demo takes tips."""
    import stat

    from django.conf import settings as live

    settings.CHIPREG_TIPS_PUBLIC_KEY = ""
    settings.CHIPREG_TIPS_PRIVATE_KEY_FILE = ""
    settings.CHIPREG_TIPS_KEY_AUTOCREATE = True
    settings.VAR_DIR = tmp_path
    r = send(api)
    assert r.status_code == 201, r.content
    key_file = tmp_path / "tips-private.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_text()
    assert send(api).status_code == 201 and key_file.read_text() == first  # made once
    opened = sealing.open_sealed(Tip.objects.get(ref=r.json()["tip"]).sealed)
    assert opened["text"] == tip_body()["text"]
    assert live.CHIPREG_TIPS_KEY_AUTOCREATE is True
    # Production settings (they refuse to import without real secrets) turn it off.
    production = (Path(live.BASE_DIR) / "config" / "settings_production.py").read_text()
    assert "\nCHIPREG_TIPS_KEY_AUTOCREATE = False\n" in production


@pytest.mark.django_db
def test_a_signed_in_anonymous_tip_stores_neither_address_nor_token(api, parties):
    user = parties.users["op_a_member"]
    client = api(user)
    token_row = APIToken.objects.get(user=user)
    used_before = token_row.last_used_at
    r = client.post("/api/v1/tips/", tip_body(anonymous=True), REMOTE_ADDR=ADDRESS)
    assert r.status_code == 201, r.content
    tip = Tip.objects.get(ref=r.json()["tip"])
    needles = [
        ADDRESS,
        client.token,
        token_row.digest if hasattr(token_row, "digest") else client.token,
        user.username,
    ]
    # No column can hold the sender (a token's id is a small integer, which a byte search cannot tell from
    # the row's own id): before triage, the row names no user, token or organisation at all.
    related = {f.name: f.related_model for f in Tip._meta.concrete_fields if f.is_relation}
    assert related == {"triaged_by": type(user), "case": Tip._meta.get_field("case").related_model}
    assert tip.triaged_by_id is None
    row = dump_text(raw_row(tip.pk))
    leaves = b"".join(bytes(leaf.leaf) for leaf in LogLeaf.objects.all())
    events = "".join(e.data_jcs for e in LogEventData.objects.all()).encode()
    for needle in needles:
        for where, text in (("row", row), ("leaves", leaves), ("events", events)):
            assert needle.encode() not in text, (needle, where)
    # Its use was not even recorded on the token (which would time the tip next to the account).
    token_row.refresh_from_db()
    assert token_row.last_used_at == used_before
    # Who sent it is known to the treaty body alone, inside the sealed body.
    opened = sealing.open_sealed(tip.sealed)
    assert opened["submitter"] == {"username": user.username, "organisation": "op-a"} and opened["anonymous"]


@pytest.mark.django_db
def test_an_unauthenticated_tip_stores_no_address_anywhere(api):
    r = send(api, address="198.51.100.23")
    tip = Tip.objects.get(ref=r.json()["tip"])
    assert b"198.51.100.23" not in dump_text(raw_row(tip.pk))
    assert b"198.51.100.23" not in b"".join(bytes(leaf.leaf) for leaf in LogLeaf.objects.all())
    assert "198.51.100.23" not in "".join(e.data_jcs for e in LogEventData.objects.all())


@pytest.mark.django_db
def test_receipt_adds_to_its_own_tip_only(api, parties):
    a = send(api).json()
    b = send(api).json()
    r = send(
        api, body={"receipt": a["receipt"], "text": "More: the rack moved to hall 9."}, path="/api/v1/tips/additions/"
    )
    assert r.status_code == 201, r.content
    tip_a, tip_b = Tip.objects.get(ref=a["tip"]), Tip.objects.get(ref=b["tip"])
    assert tip_a.additions.count() == 1 and tip_b.additions.count() == 0
    added = tip_a.additions.get()
    assert b"hall 9" not in bytes(added.sealed) and sealing.open_sealed(added.sealed)["text"].endswith("hall 9.")
    assert LogEventData.objects.get(index=r.json()["log_index"]).event == "tip.added_to"
    # A made-up code, or a tip's ref, adds to nothing and says nothing of which tips exist.
    for wrong in ("tip_" + "A" * 43, a["tip"], b["receipt"][:-1] + "x"):
        count = TipAddition.objects.count()
        r = send(api, body={"receipt": wrong, "text": "x"}, path="/api/v1/tips/additions/")
        assert r.status_code == 404 and r.json()["code"] == "unknown_receipt"
        assert TipAddition.objects.count() == count
    # The treaty body reads the addition with the tip.
    detail = api(parties.users["treaty"]).get(f"/api/v1/tips/{a['tip']}/").json()
    assert detail["additions"] == 1 and detail["addition_bodies"][0]["text"].endswith("hall 9.")


@pytest.mark.django_db
def test_no_two_public_leaves_of_casework_name_the_same_object(api, parties):
    """A leaf is public and names its event and object. Had a tip's or a case's events one object id, the log
    would chain them for anyone: the operator a challenge inspection for a case concerns finds the case's
    `case.linked` leaf by its time, then every leaf of the case, then the `tip.triaged` leaf beside each tip
    linked to it, that tip's id, and its `tip.received` and `tip.added_to` leaves: when its sender wrote,
    which is what the rest of the tips' design never records. Each event names an object of its own."""
    treaty = api(parties.users["treaty"])
    sent = send(api).json()
    added = send(
        api, body={"receipt": sent["receipt"], "text": "The racks moved."}, path="/api/v1/tips/additions/"
    ).json()
    r = treaty.post(f"/api/v1/tips/{sent['tip']}/triage/", {"action": "new_case", "title": "Ashburn hall"})
    assert r.status_code == 200, r.content
    code = r.json()["case"]
    assert treaty.post(f"/api/v1/cases/{code}/inspectorates/", {"organisation": "insp-us"}).status_code == 201
    assert treaty.post(f"/api/v1/cases/{code}/state/", {"state": "closed", "conclusion": "Seen."}).status_code == 200
    case = Case.objects.get(code=code)
    indices = [sent["log_index"], added["log_index"], *case.steps.values_list("log_index", flat=True)]
    triaged = LogEventData.objects.get(event="tip.triaged")
    rows = [LogEventData.objects.get(index=i) for i in indices] + [triaged]
    assert [r.event for r in rows] == [
        "tip.received",
        "tip.added_to",
        "case.opened",
        "case.linked",
        "case.inspectorate_added",
        "case.closed",
        "tip.triaged",
    ]
    objects = [r.object_id for r in rows]
    assert len(set(objects)) == len(objects), objects
    assert not {sent["tip"], str(case.ref), code} & set(objects)
    # Their readers still find what each is about in the data.
    assert json.loads(triaged.data_jcs)["tip"] == sent["tip"] and json.loads(triaged.data_jcs)["case"] == str(case.ref)
    assert {json.loads(r.data_jcs).get("case") for r in rows[2:6]} == {str(case.ref)}


@pytest.mark.django_db
def test_rate_limit_per_address(api, settings):
    settings.CHIPREG_TIP_RATE_PER_ADDRESS = "3/hour"
    address = "192.0.2.41"
    codes = [send(api, address=address).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    assert send(api, address="192.0.2.42").status_code == 201  # another address has its own count


@pytest.mark.django_db
def test_an_ipv6_sender_is_counted_by_its_64_not_by_each_address_it_holds(api, settings):
    """One IPv6 host is given a /64: 2**64 addresses. Counted per address, it would send without limit."""
    settings.CHIPREG_TIP_RATE_PER_ADDRESS = "2/hour"
    assert send(api, address="2001:db8:77:1::1").status_code == 201
    assert send(api, address="2001:db8:77:1::2").status_code == 201
    r = send(api, address="2001:db8:77:1:ffff:ffff:ffff:9")
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert send(api, address="2001:db8:77:2::1").status_code == 201  # another /64, another sender
    # An IPv4 address written as IPv6 is that IPv4 address: one count, whichever way it is written.
    assert send(api, address="192.0.2.61").status_code == 201
    assert send(api, address="::ffff:192.0.2.61").status_code == 201
    assert send(api, address="::ffff:192.0.2.61").status_code == 429
    settings.CHIPREG_TIP_RATE_PER_ADDRESS = "100/hour"
    settings.CHIPREG_TIP_BYTES_PER_ADDRESS = 2000
    assert send(api, address="2001:db8:79:1::1").status_code == 201
    count = Tip.objects.count()
    r = send(api, body=tip_body(text="x" * 2000), address="2001:db8:79:1::2")
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert Tip.objects.count() == count


@pytest.mark.django_db
def test_behind_the_deployments_proxy_each_sender_has_its_own_count(api, settings):
    """deploy/: nginx in front of gunicorn, which listens on loopback. Every request then comes from nginx's
    address; unless the one proxy is trusted for the client's (X-Forwarded-For, appended by nginx's
    proxy_params), one sender's tips use up every sender's limits, and the treaty body hears from nobody."""
    root = Path(__file__).resolve().parents[2]
    env = dict(
        line.split("=", 1)
        for line in (root / "deploy/env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    assert env.get("CHIPREG_NUM_PROXIES") == "1"
    nginx = (root / "deploy/nginx/chipreg.conf").read_text()
    tips = nginx[nginx.index("location /api/v1/tips/") :]
    assert "include /etc/nginx/proxy_params;" in tips[: tips.index("}")]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": int(env["CHIPREG_NUM_PROXIES"])}
    settings.CHIPREG_TIP_RATE_PER_ADDRESS = "2/hour"

    def via_nginx(forwarded):
        return api(None).post("/api/v1/tips/", tip_body(), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)

    assert [via_nginx("198.51.100.71").status_code for _ in range(3)] == [201, 201, 429]
    assert via_nginx("198.51.100.72").status_code == 201  # another sender, its own count
    # A sender writing its own X-Forwarded-For is still counted by the address nginx appends.
    assert via_nginx("203.0.113.9, 198.51.100.71").status_code == 429


@pytest.mark.django_db
def test_byte_budget_per_address(api, settings):
    settings.CHIPREG_TIP_BYTES_PER_ADDRESS = 2000
    address = "192.0.2.51"
    first = send(api, address=address)
    assert first.status_code == 201
    count = Tip.objects.count()
    r = send(api, body=tip_body(text="x" * 2000), address=address)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert Tip.objects.count() == count


@pytest.mark.django_db
def test_size_limits(api, settings):
    count = Tip.objects.count()
    # Past the route's body limit: refused from Content-Length, before a byte is read.
    r = send(api, body=tip_body(text="x" * 70_000))
    assert r.status_code == 413
    settings.CHIPREG_TIP_MAX_BYTES = 1000
    r = send(api, body=tip_body(text="x" * 2000))
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    too_many = tip_body()
    too_many["attachments"] = too_many["attachments"] * 4
    settings.CHIPREG_TIP_MAX_BYTES = 60_000
    r = send(api, body=too_many)
    assert r.status_code == 400 and r.json()["code"] == "too_many_attachments"
    bad = tip_body()
    bad["attachments"][0]["content_type"] = "application/x-msdownload"
    assert send(api, body=bad).json()["code"] == "attachment_type"
    assert Tip.objects.count() == count


@pytest.mark.django_db
def test_triage_into_a_new_case_an_existing_one_or_dismissed(api, parties):
    treaty = api(parties.users["treaty"])
    refs = [send(api).json()["tip"] for _ in range(4)]
    r = treaty.post(f"/api/v1/tips/{refs[0]}/triage/", {"action": "new_case", "title": "Ashburn hall"})
    assert r.status_code == 200, r.content
    code = r.json()["case"]
    assert code.startswith("CASE-") and r.json()["state"] == "in_case"
    r = treaty.post(f"/api/v1/tips/{refs[1]}/triage/", {"action": "add_to_case", "case": code})
    assert r.status_code == 200 and r.json()["case"] == code
    case = Case.objects.get(code=code)
    assert sorted(case.links.values_list("target", flat=True)) == sorted(refs[:2])
    assert [s.event for s in case.steps.all()] == ["case.opened", "case.linked", "case.linked"]
    r = treaty.post(f"/api/v1/tips/{refs[2]}/triage/", {"action": "dismiss"})
    assert r.status_code == 400 and r.json()["code"] == "reason_required"
    r = treaty.post(f"/api/v1/tips/{refs[2]}/triage/", {"action": "dismiss", "reason": "Names no site."})
    assert r.status_code == 200 and r.json()["state"] == "dismissed"
    # Once only; an unknown case leaves the tip as it was.
    r = treaty.post(f"/api/v1/tips/{refs[2]}/triage/", {"action": "new_case", "title": "again"})
    assert r.status_code == 409 and r.json()["code"] == "already_triaged"
    cases = Case.objects.count()
    r = treaty.post(f"/api/v1/tips/{refs[3]}/triage/", {"action": "add_to_case", "case": "CASE-1999-0001"})
    assert r.status_code == 400 and r.json()["code"] == "unknown_case"
    assert Tip.objects.get(ref=refs[3]).state == "new" and Case.objects.count() == cases
    triaged = [json.loads(e.data_jcs)["tip"] for e in LogEventData.objects.filter(event="tip.triaged")]
    assert sorted(triaged) == sorted(refs[:3])


@pytest.mark.django_db
def test_only_the_treaty_body_reads_tips(api, parties):
    ref = send(api).json()["tip"]
    for who in ("op_a_admin", "op_b", "insp_us", "insp_fr", "nvidia"):
        client = api(parties.users[who])
        assert client.get(f"/api/v1/tips/{ref}/").status_code == 404, who
        assert ref not in json.dumps(client.get("/api/v1/tips/").json()), who
        r = client.post(f"/api/v1/tips/{ref}/triage/", {"action": "dismiss", "reason": "not mine"})
        assert r.status_code == 404, who
    assert Tip.objects.get(ref=ref).state == "new"
    # Nor the tip's log event data.
    index = Tip.objects.get(ref=ref).log_index
    assert api(parties.users["insp_us"]).get(f"/api/v1/log/entries/{index}").json().get("data") is None


def test_the_access_log_has_no_address_for_tips():
    """gunicorn's access log line (deploy/gunicorn.conf.py) keeps `%(h)s` for every route but the tips'."""
    import runpy
    from datetime import timedelta
    from pathlib import Path
    from types import SimpleNamespace

    from gunicorn.config import Config

    conf = runpy.run_path(str(Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"))
    logger = conf["TipsPrivateLogger"](Config())
    resp = SimpleNamespace(status="201 Created", headers=[], sent=10, response_length=10)
    req = SimpleNamespace(
        headers=[], method="POST", uri="/api/v1/tips/", version=(1, 1), path="/api/v1/tips/", query=""
    )

    def atoms(path):
        environ = {
            "PATH_INFO": path,
            "REMOTE_ADDR": ADDRESS,
            "REQUEST_METHOD": "POST",
            "QUERY_STRING": "",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "RAW_URI": path,
        }
        return logger.atoms(resp, req, environ, timedelta(seconds=0.1))

    assert atoms("/api/v1/tips/")["h"] == "-" and atoms("/api/v1/tips/additions/")["h"] == "-"
    assert atoms("/api/v1/chips/")["h"] == ADDRESS
    assert conf["logger_class"] is conf["TipsPrivateLogger"]


@pytest.mark.django_db
def test_no_log_line_carries_the_address_or_the_token(api, parties, caplog):
    """Whatever the app logs while taking a tip, an addition, or refusing a bad receipt (django.request warns
    on a 404 with the request attached): formatted as production formats it, no address and no token."""
    import logging

    from core.logging import JsonFormatter

    user = parties.users["op_b"]
    client = api(user)
    with caplog.at_level(logging.DEBUG):
        receipt = client.post("/api/v1/tips/", tip_body(), REMOTE_ADDR=ADDRESS).json()["receipt"]
        send(api, body={"receipt": receipt, "text": "more"}, path="/api/v1/tips/additions/")
        send(api, body={"receipt": "tip_nothing", "text": "more"}, path="/api/v1/tips/additions/")
        send(api, body={"text": ""})
    formatter = JsonFormatter()
    lines = "\n".join(formatter.format(record) for record in caplog.records)
    assert caplog.records  # the 404 and the 400 were logged at least
    assert ADDRESS not in lines and client.token not in lines and receipt not in lines


@pytest.mark.django_db
def test_triage_into_a_closed_case_leaves_nothing_and_read_only_may_only_read(api, parties):
    from tests.factories import UserFactory

    treaty = api(parties.users["treaty"])
    first, second = send(api).json()["tip"], send(api).json()["tip"]
    code = treaty.post(f"/api/v1/tips/{first}/triage/", {"action": "new_case", "title": "Closed soon"}).json()["case"]
    treaty.post(f"/api/v1/cases/{code}/state/", {"state": "closed", "conclusion": "Nothing there."})
    size = LogLeaf.objects.count()
    r = treaty.post(f"/api/v1/tips/{second}/triage/", {"action": "add_to_case", "case": code})
    assert r.status_code == 409 and r.json()["code"] == "case_closed"
    assert Tip.objects.get(ref=second).state == "new" and LogLeaf.objects.count() == size
    viewer = api(UserFactory(organisation=parties.treaty, role="read-only"))
    assert viewer.get(f"/api/v1/tips/{second}/").json()["body"]["text"] == SECRET
    assert viewer.post(f"/api/v1/tips/{second}/triage/", {"action": "dismiss", "reason": "x"}).status_code == 403
    assert Tip.objects.get(ref=second).state == "new"
