"""A deliberately small HTTP client (http.client) for the registry's JSON API.

Works against any base URL (`https://registry.example`, `http://127.0.0.1:8000`,
or one with a path prefix). Bodies larger than PROGRESS_THRESHOLD are streamed in
chunks with a rich progress bar on a terminal; a Content-Length is always sent,
since the registry checks body size limits from it. Only GETs follow redirects,
and only within the registry's own origin and prefix (e.g. a trailing slash
added by the server); a POST is never re-sent elsewhere.

Failures to connect, TLS errors and timeouts raise UnreachableError; any HTTP
answer, 5xx included, is returned for the caller to classify. `timeout` bounds
each socket operation and, with 1 s more per 64 KiB uploaded, the whole request:
a registry that trickles its answer cannot hold the agent. An answer cut short
of its Content-Length is no answer.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import socket
import ssl
import sys
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from agent.errors import UnreachableError, UsageError

USER_AGENT = "chipreg-agent/1"
PROGRESS_THRESHOLD = 1 << 20
CHUNK = 256 << 10
MAX_RESPONSE_BYTES = 64 << 20
MAX_REDIRECTS = 3
MIN_UPLOAD_RATE = 64 << 10  # bytes/s: a request may take `timeout` s plus 1 s per 64 KiB it sends


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # nested too deeply: no JSON either
            return None

    @property
    def problem(self) -> dict[str, Any]:
        data = self.json()
        return data if isinstance(data, dict) else {}

    @property
    def code(self) -> str | None:
        code = self.problem.get("code")
        return code if isinstance(code, str) else None

    def describe(self) -> str:
        """One line: `401 not_authenticated: Invalid token.`"""
        problem = self.problem
        detail = problem.get("detail") or problem.get("title")
        if not isinstance(detail, str) or not detail:
            text = self.body[:200].decode("utf-8", "replace").strip()
            detail = " ".join(text.split()) or http.client.responses.get(self.status, "")
        head = f"{self.status} {self.code}" if self.code else str(self.status)
        return f"{head}: {detail[:300]}"


def _loopback(host: str) -> bool:
    """Is `host` this machine: a loopback address, or `localhost` where every address it names is one (a
    hosts file or resolver that sends `localhost` elsewhere would carry the token off the machine)."""
    if host == "localhost":
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
        except OSError:
            return False
        return bool(addresses) and all(_loopback(address.split("%", 1)[0]) for address in addresses)
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Registry:
    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 30.0,
        ca_file: str | None = None,
        show_progress: bool | None = None,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"registry URL must be http(s)://host[:port][/prefix]: {url!r}")
        self.url = url.rstrip("/")
        self.scheme = parts.scheme
        self.host = parts.hostname
        try:
            self.port = parts.port
        except ValueError:
            raise UsageError(f"bad port in registry URL {url!r}") from None
        self.prefix = parts.path.rstrip("/")
        if token and self.scheme == "http" and not _loopback(self.host):
            # The token would cross the network in clear, to anyone on the path (and be theirs to speak with).
            raise UsageError(
                f"refusing to send the API token over plain http to {self.host}: use https:// "
                "(plain http only to this machine: localhost, 127.0.0.1 or ::1)"
            )
        self.token = token
        self.timeout = timeout
        self.ca_file = ca_file
        self.show_progress = sys.stderr.isatty() if show_progress is None else show_progress

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            try:
                context = ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(f"cannot load CA file {self.ca_file}: {exc}") from None
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
        label: str = "uploading",
    ) -> Response:
        target = self.prefix + path + (("?" + urlencode(query)) if query else "")
        # The socket timeout bounds each read and write only: a registry sending a byte every
        # few seconds would hold the agent forever. The whole request gets a deadline too.
        limit = self.timeout + (len(body) / MIN_UPLOAD_RATE if body else 0.0)
        conn = self._connection()
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            sock = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read or write

        timer = threading.Timer(limit, expire)
        timer.daemon = True
        timer.start()
        try:
            try:
                conn.putrequest(method, target, skip_accept_encoding=True)
                conn.putheader("User-Agent", USER_AGENT)
                conn.putheader("Accept", "application/json, application/problem+json, text/plain")
                if self.token:
                    conn.putheader("Authorization", f"Bearer {self.token}")
                if body is not None:
                    conn.putheader("Content-Type", content_type)
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders()
                if body is not None:
                    try:
                        self._send_body(conn, body, label)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the server may have answered early (413): read its answer below
                if expired.is_set():
                    raise TimeoutError
                resp = conn.getresponse()
                data = resp.read(MAX_RESPONSE_BYTES + 1)
                if expired.is_set():
                    raise TimeoutError
                if resp.length and len(data) <= MAX_RESPONSE_BYTES:  # fewer bytes than its Content-Length
                    raise http.client.IncompleteRead(data, resp.length)
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                why = f"timed out (no complete answer within {limit:g} s)" if expired.is_set() else _why(exc)
                raise UnreachableError(f"registry at {self.url} is unreachable: {why}") from None
        finally:
            timer.cancel()
            conn.close()
        if len(data) > MAX_RESPONSE_BYTES:
            raise UnreachableError(f"registry at {self.url} sent an answer larger than {MAX_RESPONSE_BYTES} bytes")
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return Response(resp.status, headers, data)

    def _send_body(self, conn: http.client.HTTPConnection, body: bytes, label: str) -> None:
        view = memoryview(body)
        if len(body) < PROGRESS_THRESHOLD or not self.show_progress:
            for i in range(0, len(body), CHUNK):
                conn.send(view[i : i + CHUNK])
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as progress:
            task = progress.add_task(label, total=len(body))
            for i in range(0, len(body), CHUNK):
                chunk = view[i : i + CHUNK]
                conn.send(chunk)
                progress.advance(task, len(chunk))

    def get(self, path: str, query: dict[str, Any] | None = None) -> Response:
        """GET, following up to MAX_REDIRECTS redirects that stay on this registry (e.g. an added slash)."""
        resp = self.request("GET", path, query=query)
        for _ in range(MAX_REDIRECTS):
            if resp.status not in (301, 302, 303, 307, 308) or "location" not in resp.headers:
                break
            target = self._same_origin_path(resp.headers["location"])
            if target is None:
                break
            resp = self.request("GET", target)
        return resp

    def _same_origin_path(self, location: str) -> str | None:
        """The path (below the prefix) a redirect points to, or None when it leaves this registry."""
        parts = urlsplit(urljoin(f"{self.url}/", location))
        own = urlsplit(self.url)
        if (parts.scheme, parts.netloc) != (own.scheme, own.netloc) or not parts.path.startswith(self.prefix):
            return None
        path = parts.path[len(self.prefix) :]
        return path + (f"?{parts.query}" if parts.query else "")

    def post_json(self, path: str, body: bytes, label: str = "uploading") -> Response:
        return self.request("POST", path, body=body, label=label)


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"name resolution failed ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
