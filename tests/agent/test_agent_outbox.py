"""Submission, the outbox and receipts against a fake registry on 127.0.0.1."""

import json
import sqlite3

import pytest

from agent.client import Registry
from protocol.dsse import parse_envelope
from protocol.statements import parse_statement
from tests.agent.helpers import (
    H200_XML,
    TOKEN,
    FakeRegistry,
    Reply,
    accept_but_fail,
    closed_port,
    problem,
)


def attest(cli, *extra):
    return cli("attest", "location", "--from-xml", H200_XML, *extra)


def outbox_rows(state):
    db = sqlite3.connect(state / "outbox.sqlite3")
    try:
        return db.execute(
            "SELECT id, status, nonce, envelope, remote_id, receipt_status FROM outbox ORDER BY id"
        ).fetchall()
    finally:
        db.close()


def nonces(state):
    db = sqlite3.connect(state / "outbox.sqlite3")
    try:
        return [r[0] for r in db.execute("SELECT nonce FROM nonces")]
    finally:
        db.close()


def test_accepted_statement_and_receipt(cli, operator_env, registry):
    rc, out, err = attest(cli, "--scope", "complete", "--cluster", "CL-1")
    assert rc == 0, err
    assert "accepted: id 1, log index 0" in out
    (post,) = registry.posts()
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert post.headers["Content-Type"] == "application/json"
    statement = parse_statement(parse_envelope(post.body, 1 << 20).payload)
    assert statement.kind == "location" and statement.scope == "complete"
    assert statement.chips == [("nvidia:1653924010417", "CL-1")]
    assert statement.operator == "OPR-1" and statement.facility == "FAC-1"
    receipt = operator_env / "receipts" / "1.receipt.json"
    envelope = operator_env / "receipts" / "1.envelope.json"
    assert f"receipt: {receipt}" in out
    assert json.loads(receipt.read_text())["log_index"] == 0
    assert envelope.read_bytes() == post.body
    rc, out, err = cli("verify-receipt", receipt, "--envelope", envelope)
    assert rc == 0, err
    assert out.startswith("OK: leaf 0")
    [(_, status, *_rest, receipt_status)] = outbox_rows(operator_env)
    assert (status, receipt_status) == ("accepted", "stored")


def test_503_then_201_queues_then_flushes_the_same_bytes_once(cli, operator_env, registry):
    registry.script.append(("POST", "/api/v1/attestations/", problem(503, "unavailable", "maintenance")))
    rc, out, err = attest(cli)
    assert rc == 4
    assert "503 unavailable" in err and "queued" in err and "Traceback" not in err
    [(_, status, nonce, body, *_)] = outbox_rows(operator_env)
    assert status == "pending"

    rc, out, err = cli("flush")
    assert rc == 0, err
    assert "accepted: id 1" in out
    first, second = registry.posts()
    assert first.body == second.body == body  # re-sent as stored, never re-signed
    assert registry.accepted["1"]["body"] == body
    rc, out, err = cli("flush")  # nothing left: nothing sent again
    assert rc == 0 and len(registry.posts()) == 2

    rc, _, err = attest(cli)  # a new statement gets a new nonce
    assert rc == 0, err
    rows = outbox_rows(operator_env)
    assert [r[1] for r in rows] == ["accepted", "accepted"]
    assert rows[0][2] == nonce and rows[1][2] != nonce
    assert sorted(nonces(operator_env)) == sorted([rows[0][2], rows[1][2]])


def test_queued_statement_is_flushed_at_the_next_attest(cli, operator_env, registry):
    registry.script.append(("POST", "/api/v1/attestations/", problem(500, "error")))
    assert attest(cli)[0] == 4
    rc, _out, err = attest(cli)
    assert rc == 0, err
    assert [r[1] for r in outbox_rows(operator_env)] == ["accepted", "accepted"]
    assert len(registry.posts()) == 3
    assert len(registry.accepted) == 2


def test_lost_answer_then_409_replayed_nonce_marks_it_done(cli, operator_env, registry):
    registry.script.append(("POST", "/api/v1/attestations/", accept_but_fail))
    rc, _, err = attest(cli)
    assert rc == 4, err
    rc, out, err = cli("flush")
    assert rc == 0, err
    assert "already accepted: id 1" in out
    [(_, status, _, _, remote_id, receipt_status)] = outbox_rows(operator_env)
    assert (status, remote_id, receipt_status) == ("accepted", "1", "stored")
    assert len(registry.accepted) == 1


def test_registry_down_exits_4_and_keeps_the_statement(cli, operator_env, monkeypatch):
    monkeypatch.setenv("CHIPREG_URL", f"http://127.0.0.1:{closed_port()}")
    rc, _, err = attest(cli)
    assert rc == 4
    assert "unreachable" in err and "connection refused" in err
    assert "Traceback" not in err
    [(_, status, _, body, *_)] = outbox_rows(operator_env)
    assert status == "pending" and parse_envelope(body, 1 << 20)
    rc, _, err = cli("flush")
    assert rc == 4
    rc, _, err = attest(cli)  # still down: the new statement is queued behind the first
    assert rc == 4 and "connection refused" in err
    rows = outbox_rows(operator_env)
    assert [r[1] for r in rows] == ["pending", "pending"] and rows[0][3] == body
    # The registry comes back: the very same envelopes are delivered, oldest first.
    with FakeRegistry() as reg:
        monkeypatch.setenv("CHIPREG_URL", reg.url)
        rc, _, err = cli("flush")
        assert rc == 0, err
        assert [p.body for p in reg.posts()] == [body, rows[1][3]]
        assert [r[1] for r in outbox_rows(operator_env)] == ["accepted", "accepted"]


def test_expired_token_exits_3_and_keeps_the_statement(cli, operator_env, registry, monkeypatch):
    monkeypatch.setenv("CHIPREG_TOKEN", "expired")
    rc, _, err = attest(cli)
    assert rc == 3
    assert "401 not_authenticated" in err and "Traceback" not in err
    assert [r[1] for r in outbox_rows(operator_env)] == ["pending"]
    monkeypatch.setenv("CHIPREG_TOKEN", TOKEN)
    rc, _out, err = cli("flush")
    assert rc == 0, err
    assert [r[1] for r in outbox_rows(operator_env)] == ["accepted"]


def test_statement_refused_for_its_content_is_kept_as_refused(cli, operator_env, registry):
    registry.script.append(("POST", "/api/v1/attestations/", problem(400, "unknown_facility", "No facility FAC-1.")))
    registry.script.append(("POST", "/api/v1/attestations/", problem(403, "key_not_authorized", "Not your key.")))
    rc, _, err = attest(cli)
    assert rc == 3 and "unknown_facility" in err
    assert [r[1] for r in outbox_rows(operator_env)] == ["pending"]  # a facility can be registered later
    rc, _, err = cli("flush")
    assert rc == 3 and "key_not_authorized" in err
    assert [r[1] for r in outbox_rows(operator_env)] == ["refused"]  # kept, not re-sent
    rc, _, _ = cli("flush")
    assert rc == 0 and len(registry.posts()) == 2
    rc, out, _ = cli("flush", "--list")
    assert "refused" in out and "key_not_authorized" in out


def test_receipt_unavailable_is_retried_by_flush(cli, operator_env, registry):
    registry.script.append(("GET", "/api/v1/attestations/", problem(404, "not_found", "not in a checkpoint yet")))
    rc, _, err = attest(cli)
    assert rc == 0
    assert "receipt not available yet" in err
    assert outbox_rows(operator_env)[0][5] == "pending"
    rc, _out, err = cli("flush")
    assert rc == 0, err
    assert outbox_rows(operator_env)[0][5] == "stored"


def test_receipt_signed_by_another_key_is_a_verification_failure(cli, operator_env, registry, monkeypatch):
    from tests.agent.helpers import FakeLog

    monkeypatch.setenv("CHIPREG_LOG_KEY", FakeLog(registry.log.origin).key_line)
    rc, _, err = attest(cli)
    assert rc == 5
    assert "receipt does not verify" in err
    assert outbox_rows(operator_env)[0][1:2] == ("accepted",)
    assert outbox_rows(operator_env)[0][5] == "invalid"


def test_receipt_nested_past_the_recursion_limit_is_a_verification_failure(cli, operator_env, registry):
    """A registry answering the receipt with JSON nested too deeply to parse crashed the agent
    (exit 1, a bug) after its statement was accepted, instead of recording an invalid receipt."""
    registry.script.append(("GET", "/api/v1/attestations/", Reply(200, "[" * 200_000, "application/json")))
    rc, _, err = attest(cli)
    assert rc == 5, err
    assert "receipt does not verify" in err and "Traceback" not in err
    assert outbox_rows(operator_env)[0][1] == "accepted"
    assert outbox_rows(operator_env)[0][5] == "invalid"


def test_registry_reporting_another_statement_hash_is_a_verification_failure(cli, operator_env, registry):
    def lie(reg, req):
        reply = reg.submit(req)
        reply.body["statement_sha256"] = "0" * 64
        return reply

    registry.script.append(("POST", "/api/v1/attestations/", lie))
    rc, _, err = attest(cli)
    assert rc == 5 and "statement_sha256" in err


def test_missing_url_or_token_is_a_usage_error(cli, operator_env, monkeypatch):
    rc, _, err = attest(cli)
    assert rc == 2 and "no registry URL" in err
    monkeypatch.setenv("CHIPREG_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("CHIPREG_TOKEN")
    rc, _, err = attest(cli)
    assert rc == 2 and "no API token" in err
    assert not (operator_env / "outbox.sqlite3").exists()  # nothing was signed


def test_register_key(cli, operator_env, registry):
    rc, out, err = cli("register-key", "--name", "rack 7")
    assert rc == 0, err
    (post,) = registry.posts("/api/v1/keys/")
    body = json.loads(post.body)
    assert body["name"] == "rack 7" and body["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert "registered key" in out


def test_register_key_errors(cli, operator_env, registry, monkeypatch):
    registry.script.append(("POST", "/api/v1/keys/", problem(400, "unsupported_key", "RSA is not accepted")))
    rc, _, err = cli("register-key")
    assert rc == 3 and "unsupported_key" in err
    registry.script.append(("POST", "/api/v1/keys/", Reply(502, "bad gateway")))
    rc, _, err = cli("register-key")
    assert rc == 4 and "502" in err
    registry.script.append(("POST", "/api/v1/keys/", Reply(201, {"keyid": "0" * 64})))
    rc, _, err = cli("register-key")
    assert rc == 5 and "keyid" in err


def test_large_body_is_streamed_with_progress(registry):
    body = json.dumps({"blob": "x" * (3 << 20)}).encode()
    registry.script.append(
        ("POST", "/big", lambda reg, req: Reply(200, {"received": len(req.body), "same": req.body == body}))
    )
    resp = Registry(registry.url, TOKEN, show_progress=True).post_json("/big", body)
    assert resp.status == 200 and resp.json() == {"received": len(body), "same": True}


def test_large_location_statement(cli, operator_env, registry, tmp_path):
    """A 30,000-GPU inventory (over 1 MiB of envelope) goes through in one statement."""
    gpus = "".join(
        f'<gpu id="{i}"><product_name>NVIDIA H200</product_name><serial>SN{i:08d}</serial>'
        f"<uuid>GPU-{i:08d}</uuid></gpu>"
        for i in range(30_000)
    )
    big = tmp_path / "big.xml"
    big.write_text(f"<?xml version='1.0'?><nvidia_smi_log><driver_version>1</driver_version>{gpus}</nvidia_smi_log>")
    rc, out, err = cli("attest", "location", "--from-xml", big, "--json")
    assert rc == 0, err
    result = json.loads(out)
    assert result["status"] == "accepted" and result["result"]["chips"] == 30_000
    (post,) = registry.posts()
    assert len(post.body) > 1 << 20  # above the progress-bar threshold


def test_receipt_behind_a_trailing_slash_redirect(cli, operator_env, registry):
    """Django's APPEND_SLASH answers 301 to /receipt; GETs follow redirects that stay on the registry."""

    def moved(reg, req):
        reply = Reply(301, "")
        reply.location = req.path + "/"
        return reply

    registry.script.append(("GET", "/api/v1/attestations/", moved))
    rc, out, err = attest(cli)
    assert rc == 0, err
    assert "receipt:" in out
    gets = [r.path for r in registry.requests if r.method == "GET"]
    assert gets == ["/api/v1/attestations/1/receipt", "/api/v1/attestations/1/receipt/"]


def test_redirects_leaving_the_registry_are_not_followed(registry):
    def away(reg, req):
        reply = Reply(302, "")
        reply.location = "http://elsewhere.example/api/v1/log/checkpoint"
        return reply

    registry.script.append(("GET", "/api/v1/log/checkpoint", away))
    resp = Registry(registry.url).get("/api/v1/log/checkpoint")
    assert resp.status == 302
    assert [r.path for r in registry.requests] == ["/api/v1/log/checkpoint"]


@pytest.mark.parametrize(
    "status,code", [(400, "unknown_challenge"), (409, "used_challenge"), (400, "expired_challenge")]
)
def test_a_statement_over_a_dead_challenge_is_kept_as_refused_not_resent(cli, operator_env, registry, status, code):
    """A challenge the registry does not know, used or expired stays so: the statement was kept queued and sent
    again at every later run, refused each time (found by a client following HARDWARE.md)."""
    registry.script.append(("POST", "/api/v1/attestations/", problem(status, code, "That challenge is no more.")))
    rc, _, err = attest(cli)
    assert rc == 3 and code in err
    assert [r[1] for r in outbox_rows(operator_env)] == ["refused"]
    rc, _, _ = cli("flush")
    assert rc == 0 and len(registry.posts()) == 1
