"""Fakes for the agent tests: an in-memory transparency log, a registry over HTTP
on 127.0.0.1 (http.server in a thread), and a module shaped like pynvml.

Plain functions and classes, no Django: the agent tests run with `-p no:django`.
"""

from __future__ import annotations

import json
import socket
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.dsse import load_public_key, parse_envelope, statement_sha256
from protocol.encoding import b64encode
from protocol.leaves import attestation_leaf
from protocol.merkle import consistency_proof, inclusion_proof, leaf_hash, root_from_leaf_hashes
from protocol.note import sign_checkpoint, verifier_key_line
from protocol.statements import parse_statement

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "nvidia"
H200_XML = FIXTURES / "h200-nvidia-smi-q.xml"
H200_WORKLOAD = FIXTURES / "h200-nvml-workload.json"
TOKEN = "test-token"


# --- transparency log --------------------------------------------------------------


class FakeLog:
    """An RFC 6962 tree over leaf bytes, with checkpoints signed by a test Ed25519 key."""

    def __init__(self, origin: str = "registry.test/log", key: Ed25519PrivateKey | None = None):
        self.origin = origin
        self.key = key or Ed25519PrivateKey.generate()
        self.leaves: list[bytes] = []

    @property
    def key_line(self) -> str:
        return verifier_key_line(self.origin, self.key.public_key())

    def append(self, leaf: bytes) -> int:
        self.leaves.append(leaf)
        return len(self.leaves) - 1

    def hashes(self) -> list[bytes]:
        return [leaf_hash(x) for x in self.leaves]

    def root(self, size: int | None = None) -> bytes:
        size = len(self.leaves) if size is None else size
        return root_from_leaf_hashes(self.hashes()[:size])

    def checkpoint(self, size: int | None = None) -> str:
        size = len(self.leaves) if size is None else size
        return sign_checkpoint(self.key, self.origin, size, self.root(size))

    def inclusion(self, index: int, size: int | None = None) -> list[str]:
        size = len(self.leaves) if size is None else size
        return [b64encode(h) for h in inclusion_proof(index, size, self.hashes())]

    def consistency(self, first: int, second: int) -> list[str]:
        return [b64encode(h) for h in consistency_proof(first, second, self.hashes())]

    def receipt(self, index: int, size: int | None = None) -> dict[str, Any]:
        size = len(self.leaves) if size is None else size
        return {
            "log_index": index,
            "leaf": b64encode(self.leaves[index]),
            "checkpoint": self.checkpoint(size),
            "inclusion": self.inclusion(index, size),
        }


# --- registry over HTTP -------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any = None  # dict/list -> JSON; str/bytes as is
    content_type: str | None = None
    location: str | None = None

    def encode(self) -> tuple[int, str, bytes]:
        if isinstance(self.body, (dict, list)):
            ctype = self.content_type or ("application/problem+json" if self.status >= 400 else "application/json")
            return self.status, ctype, json.dumps(self.body).encode()
        data = self.body.encode() if isinstance(self.body, str) else (self.body or b"")
        return self.status, self.content_type or "text/plain; charset=utf-8", data


def problem(status: int, code: str, detail: str = "", **extra: Any) -> Reply:
    return Reply(
        status,
        {
            "type": f"https://chipreg.example/problems/{code}",
            "title": "x",
            "status": status,
            "detail": detail or code,
            "code": code,
            **extra,
        },
    )


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Override = Callable[["FakeRegistry", Request], Reply | None]


@dataclass
class FakeRegistry:
    """Enough of the registry's API for the agent: keys, attestations, receipts, log."""

    log: FakeLog = field(default_factory=FakeLog)
    token: str = TOKEN
    requests: list[Request] = field(default_factory=list)
    # (method, path prefix) -> replies or callables, consumed first-in first-out before the default behaviour
    script: list[tuple[str, str, Reply | Override]] = field(default_factory=list)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    nonces: dict[tuple[str, str], str] = field(default_factory=dict)
    checkpoints: list[str] = field(default_factory=list)  # served in order (the last one repeats)
    consistency_log: FakeLog | None = None

    def __post_init__(self) -> None:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                reply = registry.handle(req)
                status, ctype, data = reply.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                if reply.location:
                    self.send_header("Location", reply.location)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeRegistry:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self, prefix: str = "/api/v1/attestations/") -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.path.startswith(prefix)]

    # --- behaviour ---

    def handle(self, req: Request) -> Reply:
        self.requests.append(req)
        for i, (method, prefix, reply) in enumerate(self.script):
            if method == req.method and req.path.startswith(prefix):
                del self.script[i]
                if callable(reply):
                    result = reply(self, req)
                    if result is None:
                        break
                    return result
                return reply
        if req.method == "POST" and req.path == "/api/v1/attestations/":
            return self.submit(req)
        if req.method == "POST" and req.path == "/api/v1/keys/":
            return self.register_key(req)
        path = req.path.rstrip("/")
        if req.method == "GET" and path.startswith("/api/v1/attestations/") and path.endswith("/receipt"):
            ident = path.split("/")[-2]
            if ident not in self.accepted:
                return problem(404, "not_found")
            return Reply(200, self.log.receipt(self.accepted[ident]["log_index"]))
        if req.method == "GET" and req.path == "/api/v1/log/checkpoint":
            if self.checkpoints:
                text = self.checkpoints.pop(0) if len(self.checkpoints) > 1 else self.checkpoints[0]
                return Reply(200, text)
            return Reply(200, self.log.checkpoint())
        if req.method == "GET" and req.path == "/api/v1/log/proof/consistency":
            first, second = int(req.query["first"][0]), int(req.query["second"][0])
            log = self.consistency_log or self.log
            if not 0 <= first <= second <= len(log.leaves):
                return problem(400, "invalid_range")
            return Reply(200, {"first": first, "second": second, "hashes": log.consistency(first, second)})
        return problem(404, "not_found")

    def authorised(self, req: Request) -> bool:
        return req.headers.get("Authorization") == f"Bearer {self.token}"

    def submit(self, req: Request) -> Reply:
        if not self.authorised(req):
            return problem(401, "not_authenticated", "Invalid or expired token.")
        envelope = parse_envelope(req.body, 64 << 20)
        statement = parse_statement(envelope.payload)
        key = (envelope.signatures[0].keyid, statement.nonce)
        if key in self.nonces:
            return problem(409, "replayed_nonce", "already accepted", first_id=self.nonces[key])
        sha = statement_sha256(envelope)
        index = self.log.append(attestation_leaf(envelope.raw_signatures, sha))
        ident = str(len(self.accepted) + 1)
        self.nonces[key] = ident
        self.accepted[ident] = {"log_index": index, "body": req.body}
        return Reply(
            201,
            {
                "id": ident,
                "kind": statement.kind,
                "statement_sha256": sha,
                "log_index": index,
                "chips": len(statement.chips),
                "flags": [],
            },
        )

    def register_key(self, req: Request) -> Reply:
        if not self.authorised(req):
            return problem(401, "not_authenticated")
        data = json.loads(req.body)
        key = load_public_key(data["public_key"])
        return Reply(201, {"keyid": key.keyid, "name": data.get("name"), "algorithm": key.algorithm})


def accept_but_fail(registry: FakeRegistry, req: Request) -> Reply:
    """The registry stores the statement, but the answer is lost (a 502 from a proxy)."""
    registry.submit(req)
    return problem(502, "bad_gateway")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- NVML ----------------------------------------------------------------------------


class FakeNvmlError(Exception):
    def __init__(self, value: int = 999):
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeGpu:
    serial: str = "1653924010417"
    uuid: str = "GPU-7a41d2e9-03c8-6b1f-a9d4-52e0c8b3f611"
    name: str = "NVIDIA H200"
    board_part_number: str = "692-2G520-0282-001"
    power_limit_mw: int = 700000
    energy_mj: int = 0
    util: int = 0
    power_mw: int = 80000


def fake_pynvml(gpus: list[FakeGpu], driver: str = "580.159.04") -> types.ModuleType:
    """A module with pynvml's names; `mod.state` controls it (driver_loaded, driver, gpus, calls)."""
    mod = types.ModuleType("pynvml")
    state = types.SimpleNamespace(gpus=gpus, driver=driver, driver_loaded=True, initialised=False, calls=[])
    mod.state = state
    mod.NVMLError = FakeNvmlError
    mod.NVML_ERROR_NOT_SUPPORTED = 3

    def need() -> None:
        if not state.driver_loaded:
            raise FakeNvmlError(9)  # NVML_ERROR_DRIVER_NOT_LOADED
        if not state.initialised:
            raise FakeNvmlError(1)  # NVML_ERROR_UNINITIALIZED

    def nvmlInit() -> None:
        state.calls.append("init")
        if not state.driver_loaded:
            raise FakeNvmlError(9)
        state.initialised = True

    def nvmlShutdown() -> None:
        state.calls.append("shutdown")
        state.initialised = False

    def gpu(handle: int) -> FakeGpu:
        need()
        return state.gpus[handle]

    mod.nvmlInit = nvmlInit
    mod.nvmlShutdown = nvmlShutdown
    mod.nvmlDeviceGetCount = lambda: (need(), len(state.gpus))[1]
    mod.nvmlDeviceGetHandleByIndex = lambda i: (need(), i)[1]
    mod.nvmlSystemGetDriverVersion = lambda: (need(), state.driver)[1]
    mod.nvmlDeviceGetSerial = lambda h: gpu(h).serial
    mod.nvmlDeviceGetUUID = lambda h: gpu(h).uuid
    mod.nvmlDeviceGetName = lambda h: gpu(h).name
    mod.nvmlDeviceGetBoardPartNumber = lambda h: gpu(h).board_part_number
    mod.nvmlDeviceGetPowerManagementLimit = lambda h: gpu(h).power_limit_mw
    mod.nvmlDeviceGetTotalEnergyConsumption = lambda h: gpu(h).energy_mj
    mod.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=gpu(h).util, memory=0)
    mod.nvmlDeviceGetPowerUsage = lambda h: gpu(h).power_mw

    def not_supported(h: int) -> None:
        gpu(h)
        raise FakeNvmlError(3)

    mod.nvmlDeviceGetPciInfo = not_supported
    return mod
