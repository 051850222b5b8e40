"""Hostile review of the node agent: a malicious registry or network, a local user, bad device input.

Each test is an attack that once worked; the fix is named in its docstring.
"""

import math
import os
import socket
import sqlite3
import stat
import struct
import threading
import time

import pytest

from agent.client import Registry
from agent.errors import UnreachableError
from agent.samples import Collector, SampleStore, usage_from_samples
from tests.agent.helpers import H200_XML, FakeGpu, Reply, fake_pynvml, problem


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


# --- a malicious registry: a slow answer ---------------------------------------------------


class Trickle:
    """A server that answers headers then one byte of body every `pace` seconds, forever."""

    def __init__(self, pace: float = 0.2, headers_only: bool = False):
        self.pace, self.headers_only = pace, headers_only
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                try:
                    if self.headers_only:  # header lines, one byte at a time
                        conn.sendall(b"HTTP/1.1 200 OK\r\n")
                        while not self.stop.wait(self.pace):
                            conn.sendall(b"X")
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
                    while not self.stop.wait(self.pace):
                        conn.sendall(b"x")
                except OSError:
                    pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize("headers_only", [False, True], ids=["trickled-body", "trickled-headers"])
def test_a_trickling_answer_times_out(headers_only):
    """The timeout applied to each socket read only: a registry (or a man in the middle) sending a
    byte every few seconds held the agent forever (up to 64 MiB). Now a request has a deadline."""
    result = {}

    def call():
        try:
            Registry(trickle.url, "tok", timeout=1.0).get("/api/v1/log/checkpoint")
            result["outcome"] = "answered"
        except UnreachableError as exc:
            result["outcome"] = str(exc)

    with Trickle(headers_only=headers_only) as trickle:
        start = time.monotonic()
        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(15)
        elapsed = time.monotonic() - start
    assert not worker.is_alive(), "the request never ended"
    assert "timed out" in result["outcome"]
    assert elapsed < 10


def test_an_answer_cut_short_of_its_content_length_is_no_answer():
    """A connection closed before the announced Content-Length was returned as a whole answer."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b'HTTP/1.1 201 Created\r\nContent-Length: 1000\r\n\r\n{"id": "1"')

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    try:
        with pytest.raises(UnreachableError):
            Registry(f"http://127.0.0.1:{srv.getsockname()[1]}", "tok", timeout=5).post_json("/x", b"{}")
    finally:
        worker.join(5)
        srv.close()


# --- a local user: the state directory ------------------------------------------------------


def test_state_directory_and_files_are_private(cli, operator_env, registry):
    """The state directory was created 0755 and the outbox 0644 (umask 022): any local user could
    read every signed statement (which chips are in which facility) and the registry's answers."""
    old = os.umask(0o022)
    try:
        rc, _, err = attest(cli)
    finally:
        os.umask(old)
    assert rc == 0, err
    assert stat.S_IMODE(operator_env.stat().st_mode) == 0o700
    for path in [operator_env / "outbox.sqlite3", *operator_env.glob("receipts/*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_samples_database_is_private(tmp_path):
    old = os.umask(0o022)
    try:
        SampleStore(tmp_path / "state" / "samples.sqlite3").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "state" / "samples.sqlite3").stat().st_mode) & 0o077 == 0


# --- malformed device input ------------------------------------------------------------------


def test_entity_declarations_in_utf16_are_refused(cli, tmp_path):
    """The refusal of entity declarations looked for the bytes `<!ENTITY`: the same document in
    UTF-16 (which expat reads) carried its declarations past the check."""
    doc = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE nvidia_smi_log [<!ENTITY a "NVIDIA H200">]>'
        "<nvidia_smi_log><gpu><product_name>&a;</product_name><serial>1653924010417</serial></gpu>"
        "</nvidia_smi_log>"
    )
    path = tmp_path / "utf16.xml"
    path.write_bytes(doc.encode("utf-16"))
    rc, out, err = cli("inventory", "--from-xml", path)
    assert rc == 2, out
    assert "entity declarations" in err


def test_real_nvidia_smi_output_with_its_doctype_still_parses(cli):
    rc, _, err = cli("inventory", "--from-xml", H200_XML, "--json")
    assert rc == 0, err


def test_a_billion_laughs_is_refused_before_expansion(cli, tmp_path):
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    doc = f'<?xml version="1.0"?><!DOCTYPE nvidia_smi_log [<!ENTITY l0 "ha">{laughs}]><nvidia_smi_log>&l9;</nvidia_smi_log>'
    path = tmp_path / "laughs.xml"
    path.write_text(doc)
    rc, _, err = cli("inventory", "--from-xml", path)
    assert rc == 2 and "entity declarations" in err


class Clock:
    def __init__(self, t=1_800_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("energy_mj", 2**64 - 1),  # NVML's 'no value' sentinel for an unsigned long long
        ("energy_mj", 2**63),  # one above SQLite's INTEGER
        ("energy_mj", -5),
        ("energy_mj", float("nan")),
        ("util", float("nan")),
        ("util", 250),
        ("util", -3),
        ("power_mw", 2**64 - 1),
    ],
)
def test_nvml_readings_out_of_range_are_recorded_as_unknown(tmp_path, field, value):
    """An NVML reading out of range crashed the sampler (sqlite's 64-bit limit, int(nan)) or went
    into the database as is: a NaN utilization made the chip's utilization 0 over the whole period.
    Now such a reading is recorded as unknown (NULL), with a warning."""
    gpu = FakeGpu()
    lib = fake_pynvml([gpu])
    warnings = []
    store = SampleStore(tmp_path / "s.sqlite3")
    clock = Clock()
    collector = Collector(store, 10.0, lib=lib, clock=clock, warn=warnings.append)
    start = clock.t
    for i in range(4):
        gpu.energy_mj, gpu.util, gpu.power_mw = 1_000_000 + 10_000 * i, 60, 300_000
        if i == 2:
            setattr(gpu, field, value)
        assert collector.tick() == 1
        clock.t += 10
    assert any(field.split("_")[0] in w for w in warnings), warnings
    (u,) = store.usage(start, clock.t)
    assert 0 <= u.utilization <= 1 and not math.isnan(u.utilization)
    assert u.utilization == pytest.approx(0.6)
    assert 0 <= u.energy_j <= 30.0 + 1e-9  # never more than the counter really advanced


def test_an_energy_jump_beyond_any_chip_is_not_counted(tmp_path):
    """A glitched counter (one reading far ahead, then back) added petajoules: the usage statement
    then failed the schema for every chip (nothing could be reported), or, below the schema's 10 kW
    bound, claimed energy the chip never drew. A delta above 10 kW over its interval is a reset."""
    store = SampleStore(tmp_path / "s.sqlite3")
    kw = {"interval_s": 10.0, "boot_id": "b", "driver": "d", "chip": "nvidia:ABC"}
    for i, e in enumerate([1_000_000, 1_010_000, 10**15, 1_030_000, 1_040_000]):
        store.add("G", 1000.0 + 10 * i, e, 50.0, 1, **kw)
    u = usage_from_samples(store.window("G", 0, 1e9), 1000.0, 1040.0)
    assert u.energy_j <= 20.0 + 1e-9
    assert u.resets >= 1


def test_a_409_naming_another_statement_keeps_this_one_queued(cli, operator_env, registry):
    """A 409 replayed_nonce whose first_id is another statement's marked this one accepted: its
    receipt was then found invalid (exit 5) but the statement was never sent again, though nothing
    showed it was logged. A receipt proving another leaf now puts the statement back in the queue."""
    rc, _, err = attest(cli)  # statement 1, honestly accepted as id 1
    assert rc == 0, err
    registry.script.append(("POST", "/api/v1/attestations/", problem(409, "replayed_nonce", "seen", first_id="1")))
    rc, _, err = attest(cli)
    assert rc == 5, err
    assert "another statement's" in err
    assert outbox(operator_env) == [("accepted", "1", "stored"), ("pending", None, None)]
    rc, _, err = cli("flush")
    assert rc == 0, err
    assert outbox(operator_env) == [("accepted", "1", "stored"), ("accepted", "2", "stored")]
    assert (operator_env / "receipts" / "1.envelope.json").read_bytes() == registry.accepted["1"]["body"]


@pytest.mark.parametrize("size", [0, 10**6, -1], ids=["empty", "beyond-the-buffer", "negative"])
def test_a_gpu_answering_an_evidence_blob_of_a_wrong_size_is_left_out_alone(
    cli, operator_env, registry, monkeypatch, size
):
    """A GPU whose NVML answer gave a report size of 0 made the whole evidence statement malformed
    ('chips[1].report: must be base64'): no GPU's evidence could be sent. One beyond the buffer was
    silently cut to it, a negative one cut the report's tail. That GPU is now named and left out."""
    import types

    from protocol.evidence_factory import Vendor
    from tests.agent.test_agent_hardware import FRESH, nvml_with_evidence, sent_statement, three_gpus

    v = Vendor(organisation="NVIDIA Corporation", generation="GH100")
    roots = operator_env.parent / "roots"
    roots.mkdir()
    (roots / "root.pem").write_bytes(v.root_pem())
    nvml_with_evidence(monkeypatch, three_gpus()[:2], [v.device(), v.device()])
    lib = __import__("sys").modules["pynvml"]
    honest = lib.nvmlDeviceGetConfComputeGpuAttestationReport

    def report(handle, nonce):
        answer = honest(handle, nonce)
        if handle == 1:
            return types.SimpleNamespace(attestationReport=answer.attestationReport, attestationReportSize=size)
        return answer

    lib.nvmlDeviceGetConfComputeGpuAttestationReport = report
    rc, _, err = cli("attest", "evidence", "--challenge", FRESH, "--roots", roots)
    assert rc == 0, err
    assert "nvidia:1653924010418: cannot produce evidence: NVML answered a report of" in err
    assert [c for c, _ in sent_statement(registry).chips] == ["nvidia:1653924010417"]


# --- secrets in transit and at rest ------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://registry.example", "http://10.0.0.7:8000", "http://[2001:db8::1]"])
def test_the_token_never_crosses_the_network_over_plain_http(cli, operator_env, url):
    """Anyone on the path between a node and a remote registry would read the token and speak with it."""
    from agent.errors import UsageError

    with pytest.raises(UsageError, match="plain http"):
        Registry(url, "secret-token")
    rc, _, err = attest(cli, "--url", url)
    assert rc == 2 and "refusing to send the API token over plain http" in err
    assert not (operator_env / "outbox.sqlite3").exists() or outbox(operator_env) == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9", "https://r.example"])
def test_a_token_goes_over_https_or_to_this_machine(url):
    assert Registry(url, "secret-token").token == "secret-token"
    assert Registry("http://registry.example").token is None  # no token: nothing to give away (public reads)


def test_localhost_named_elsewhere_gets_no_token(monkeypatch):
    """`localhost` is this machine only while it resolves to loopback: a hosts file or resolver that names
    another address for it would carry the token over the network in clear."""
    from agent.errors import UsageError

    resolve = socket.getaddrinfo

    def elsewhere(host, *args, **kwargs):
        if host == "localhost":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", 0))]
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", elsewhere)
    with pytest.raises(UsageError, match="plain http"):
        Registry("http://localhost:9", "secret-token")
    assert Registry("http://127.0.0.1:9", "secret-token").token == "secret-token"


def _secret(path, text, mode):
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660, 0o666])
def test_secret_files_open_to_other_users_are_refused(tmp_path, mode):
    """ssh's rule for a private key, for each file the agent reads a secret from: another local user who can
    read it holds the operator's voice, and one who can change it makes the agent speak with another's."""
    from agent.config import load_config
    from agent.errors import UsageError
    from agent.keys import generate_private_key, load_signing_key, write_private_key

    token_file = _secret(tmp_path / "token", "secret-token\n", mode)
    config = _secret(tmp_path / "agent.toml", f'token_file = "{token_file}"\n', 0o644)
    with pytest.raises(UsageError, match=rf"token_file .*\(mode {mode:04o}\)"):
        load_config({}, env={}, config_path=str(config))
    holding = _secret(tmp_path / "holding.toml", 'token = "secret-token"\n', mode)
    with pytest.raises(UsageError, match="config file holding a token"):
        load_config({}, env={}, config_path=str(holding))
    key = tmp_path / "key.pem"
    write_private_key(key, generate_private_key("ed25519"), None)
    key.chmod(mode)
    with pytest.raises(UsageError, match=r"signing key .* is open to other users"):
        load_signing_key(key, "X")


def test_secret_files_readable_by_their_group_only_are_read(tmp_path):
    """A key owned by root and readable by the agent's service group is a usual deployment (mode 0640)."""
    from agent.config import load_config

    token_file = _secret(tmp_path / "token", "secret-token\n", 0o640)
    config = _secret(tmp_path / "agent.toml", f'token_file = "{token_file}"\nfacility = "F"\n', 0o644)
    assert load_config({}, env={}, config_path=str(config)).token == "secret-token"
    holding = _secret(tmp_path / "holding.toml", 'token = "secret-token"\n', 0o600)
    assert load_config({}, env={}, config_path=str(holding)).token == "secret-token"


@pytest.mark.parametrize("mode", [0o666, 0o646, 0o664])
def test_a_config_file_others_may_change_is_refused_though_it_holds_no_token(tmp_path, mode):
    """A config naming a token_file (or none, the token coming from $CHIPREG_TOKEN) holds no secret, but
    whoever may change it says where the token goes (`url`, with a `ca_file` of theirs for https), which key
    signs and which log key receipts are checked against: another local user rewrote `url` and received the
    token. Refused as ssh refuses a config file others may write, wherever it is named from."""
    from agent.config import load_config
    from agent.errors import UsageError

    token_file = _secret(tmp_path / "token", "secret-token\n", 0o600)
    text = f'url = "https://registry.example"\ntoken_file = "{token_file}"\n'
    config = _secret(tmp_path / "agent.toml", text, mode)
    with pytest.raises(UsageError, match=rf"config file .* may be changed by other users \(mode {mode:04o}\)"):
        load_config({}, env={}, config_path=str(config))
    with pytest.raises(UsageError, match="may be changed by other users"):
        load_config({}, env={"CHIPREG_CONFIG": str(config), "CHIPREG_TOKEN": "t"})
    config.chmod(0o644)
    assert load_config({}, env={}, config_path=str(config)).token == "secret-token"


def test_a_config_file_in_a_folder_others_may_write_is_refused(tmp_path):
    """A 0644 config in a folder any user may write is theirs to replace (rename another file over it): refused
    as ssh refuses a config under such a folder (a client written from the README put one in a 0777 folder and
    the agent read it). A folder with the sticky bit (as /tmp) keeps others to their own files: read."""
    from agent.config import load_config
    from agent.errors import UsageError

    token_file = _secret(tmp_path / "token", "secret-token\n", 0o600)
    shared = tmp_path / "shared"
    shared.mkdir()
    config = _secret(shared / "agent.toml", f'token_file = "{token_file}"\n', 0o644)
    holding = _secret(shared / "holding.toml", 'token = "secret-token"\n', 0o600)
    for mode in (0o777, 0o775):
        shared.chmod(mode)
        for path in (config, holding):
            with pytest.raises(UsageError, match=rf"lies in {shared}, which other users may write"):
                load_config({}, env={}, config_path=str(path))
    shared.chmod(0o1777)
    assert load_config({}, env={}, config_path=str(config)).token == "secret-token"
    shared.chmod(0o755)
    assert load_config({}, env={}, config_path=str(holding)).token == "secret-token"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to give a file away")
def test_a_config_or_secret_file_owned_by_another_user_is_refused(tmp_path):
    """Mode 0644 (or 0600) says nothing when the file is another user's: its owner reads and rewrites it. A
    config planted in /tmp by another user and named by $CHIPREG_CONFIG steered the token like a writable one."""
    from agent.config import load_config
    from agent.errors import UsageError

    tmp_path.chmod(0o755)
    config = _secret(tmp_path / "agent.toml", 'url = "https://registry.example"\n', 0o644)
    os.chown(config, 65534, 65534)
    with pytest.raises(UsageError, match="owned by another user"):
        load_config({}, env={"CHIPREG_CONFIG": str(config), "CHIPREG_TOKEN": "t"})
    token_file = _secret(tmp_path / "token", "secret-token\n", 0o600)
    os.chown(token_file, 65534, 65534)
    mine = _secret(tmp_path / "mine.toml", f'token_file = "{token_file}"\n', 0o644)
    with pytest.raises(UsageError, match=r"token_file .* owned by another user"):
        load_config({}, env={}, config_path=str(mine))


def _acl(path, *named, mask):
    """Give `path` a POSIX access ACL: the owner rw-, the owning group and others nothing, the `named` entries
    (("user" | "group", id, perms)) under `mask` (as `setfacl -m u:ID:r` writes it; linux/posix_acl_xattr.h)."""
    tags = {"user": 0x02, "group": 0x08}
    entries = [(0x01, 0o6, 0xFFFFFFFF), *((tags[kind], perms, ident) for kind, ident, perms in named)]
    entries += [(0x04, 0, 0xFFFFFFFF), (0x10, mask, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]
    entries.sort(key=lambda entry: (entry[0], entry[2]))  # the kernel takes them in tag order only
    raw = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)
    try:
        os.setxattr(path, "system.posix_acl_access", raw)
    except (AttributeError, OSError) as exc:
        pytest.skip(f"this file system takes no POSIX ACLs ({exc})")
    return path


def test_secret_files_opened_by_an_acl_are_refused(tmp_path):
    """`setfacl -m u:bob:r token` leaves the mode reading 0640, which the mode check lets through as a service
    group's: the ACL, read as the kernel reads it, says another user may read the secret."""
    from agent.config import load_config
    from agent.errors import UsageError
    from agent.keys import generate_private_key, load_signing_key, write_private_key

    token_file = _acl(_secret(tmp_path / "token", "secret-token\n", 0o600), ("user", 65534, 0o4), mask=0o4)
    assert token_file.stat().st_mode & 0o777 == 0o640  # what the mode check sees
    config = _secret(tmp_path / "agent.toml", f'token_file = "{token_file}"\nfacility = "F"\n', 0o644)
    with pytest.raises(UsageError, match=r"token_file .* has an ACL that opens it to user 65534"):
        load_config({}, env={}, config_path=str(config))
    key = tmp_path / "key.pem"
    write_private_key(key, generate_private_key("ed25519"), None)
    _acl(key, ("user", 65534, 0o4), mask=0o4)
    with pytest.raises(UsageError, match=r"signing key .* ACL that opens it to user 65534"):
        load_signing_key(key, "X")
    holding = _acl(_secret(tmp_path / "holding.toml", 'token = "t"\n', 0o600), ("user", 65534, 0o4), mask=0o4)
    with pytest.raises(UsageError, match=r"config file holding a token .* ACL that opens it to user 65534"):
        load_config({}, env={}, config_path=str(holding))
    # What an ACL lets others change shows in the mode's group bits (its mask), where the mode check sees it.
    steered = _secret(tmp_path / "steered.toml", 'url = "https://registry.example"\n', 0o644)
    _acl(steered, ("user", 65534, 0o6), mask=0o6)
    with pytest.raises(UsageError, match=r"config file .* may be changed by other users \(mode 0660\)"):
        load_config({}, env={"CHIPREG_CONFIG": str(steered), "CHIPREG_TOKEN": "t"})


def test_an_acl_giving_a_group_read_or_masked_out_is_read(tmp_path):
    """A named group that may read is a service group, as the file's own group may be; a named user's entry
    the mask takes everything from gives nothing."""
    from agent.config import load_config

    token_file = _acl(_secret(tmp_path / "token", "secret-token\n", 0o600), ("group", 65534, 0o4), mask=0o4)
    config = _secret(tmp_path / "agent.toml", f'token_file = "{token_file}"\nfacility = "F"\n', 0o644)
    assert load_config({}, env={}, config_path=str(config)).token == "secret-token"
    _acl(token_file, ("user", 65534, 0o6), mask=0o0)
    assert load_config({}, env={}, config_path=str(config)).token == "secret-token"
