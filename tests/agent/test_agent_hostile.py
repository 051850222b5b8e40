"""Hostile review of the node agent: a malicious registry or network, a local user, bad device input.

Each test is an attack that once worked; the fix is named in its docstring.
"""

import sqlite3

import pytest

from tests.agent.helpers import H200_XML, Reply, problem


def attest(cli, *extra):
    return cli("attest", "location", "--from-xml", H200_XML, *extra)


def outbox(state):
    db = sqlite3.connect(state / "outbox.sqlite3")
    try:
        return db.execute("SELECT status, remote_id, receipt_status FROM outbox ORDER BY id").fetchall()
    finally:
        db.close()


# --- a malicious registry: answers that drop a statement never accepted ------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, "<html><body>Welcome to the hotel network</body></html>", "text/html"),  # a captive portal
        Reply(201, {"kind": "location"}),  # no id
        Reply(201, b"\xff\xfe not json"),
        Reply(201, [1, 2, 3]),
        problem(409, "replayed_nonce", "seen it"),  # no first_id
    ],
    ids=["html-200", "201-no-id", "201-garbage", "201-array", "409-no-first-id"],
)
def test_an_answer_that_names_no_attestation_keeps_the_statement_queued(cli, operator_env, registry, reply):
    """A 2xx (or a 409 replayed_nonce) that names no attestation marked the statement accepted and
    exited 0: a captive portal or a lying registry made the agent drop a signed statement that was
    never logged. Now only an answer naming the attestation (its id) takes it out of the queue."""
    registry.script.append(("POST", "/api/v1/attestations/", reply))
    rc, _, err = attest(cli)
    assert rc == 4, err
    assert "kept in the outbox" in err
    assert outbox(operator_env) == [("pending", None, None)]
    rc, _out, err = cli("flush")  # the honest registry gets the same bytes later
    assert rc == 0, err
    assert outbox(operator_env) == [("accepted", "1", "stored")]
    assert len(registry.accepted) == 1


def test_a_201_for_another_statement_keeps_this_one_queued(cli, operator_env, registry):
    """A 201 whose statement_sha256 is another statement's was recorded as the acceptance of this
    one (exit 5, but never re-sent). The registry did not accept these bytes: they stay queued."""

    def lie(reg, req):
        return Reply(201, {"id": "77", "statement_sha256": "0" * 64, "log_index": 0})

    registry.script.append(("POST", "/api/v1/attestations/", lie))
    rc, _, err = attest(cli)
    assert rc == 5 and "statement_sha256" in err
    assert outbox(operator_env) == [("pending", None, None)]
    rc, _, err = cli("flush")
    assert rc == 0, err
    assert outbox(operator_env) == [("accepted", "1", "stored")]


def test_a_remote_id_cannot_steer_the_receipt_request_elsewhere_on_the_registry(cli, operator_env, registry):
    """The id from the registry's answer went unquoted into the receipt URL: `../../keys` made the
    agent GET another endpoint with its token (and `?`/`#` rewrote the query)."""
    registry.script.append(("POST", "/api/v1/attestations/", Reply(201, {"id": "../../keys/x"})))
    attest(cli)
    gets = [r.path for r in registry.requests if r.method == "GET"]
    assert gets and all(p.startswith("/api/v1/attestations/") and p.endswith("/receipt") for p in gets), gets
    assert all("/../" not in p for p in gets)
