"""One HTTP POST to a checked destination, with the standard library only.

http.client rather than urllib: urllib follows redirects (turning a POST into
a GET to wherever the receiver points, an SSRF path around the address check)
and honours proxy variables; a webhook answered with 3xx is simply a failure
(Standard Webhooks). The connection goes to the addresses destinations.resolve()
checked, never to a fresh lookup, while Host and TLS SNI keep the host name.
"""

import http.client
import socket
import time
from urllib.parse import urlsplit

from compliance.delivery.destinations import parse, resolve

MAX_RESPONSE_BYTES = 64 * 1024  # read (and counted) at most; a longer answer is recorded as this many bytes


class Result:
    """One try's outcome; `ok` is a 2xx answer (webhooks) or a message the mail backend took."""

    def __init__(self, ok=False, status_code=None, error="", duration_ms=0, retry_after=None, response_bytes=None):
        self.ok = ok
        self.status_code = status_code
        self.error = error  # the registry's own words only, never the receiver's
        self.response_bytes = response_bytes
        self.duration_ms = duration_ms
        self.retry_after = retry_after


def _pinned(addresses):
    def create_connection(address, timeout=None, source_address=None, *args, **kwargs):
        last = OSError("no address to connect to")
        for host in addresses:
            try:
                return socket.create_connection((host, address[1]), timeout, source_address)
            except OSError as exc:
                last = exc
        raise last

    return create_connection


def _retry_after(response):
    value = response.getheader("retry-after")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff decides


def post(url, body, headers, timeout):
    """POST `body`; DestinationRefused propagates (the caller dead-letters), other failures are a Result."""
    scheme, host, port = parse(url)
    addresses = resolve(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    conn = cls(host, port, timeout=timeout)
    conn._create_connection = _pinned(addresses)
    started = time.monotonic()
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        # Only the status and how long the answer was are kept: the receiver's body is its words,
        # not the registry's, and stored it would be readable by whoever reads the attempt log
        # (a receiver behind a URL could otherwise park arbitrary text, or what it fetched, there).
        length = len(response.read(MAX_RESPONSE_BYTES))
        status, ok = response.status, 200 <= response.status < 300
        return Result(ok, status, "", _ms(started), _retry_after(response), response_bytes=length)
    except http.client.HTTPException as exc:
        # Its message can quote what the receiver sent (BadStatusLine carries the line): the kind only.
        return Result(False, None, f"malformed HTTP answer ({type(exc).__name__})", _ms(started))
    except OSError as exc:
        return Result(False, None, f"{type(exc).__name__}: {exc}"[:1000], _ms(started))
    finally:
        conn.close()


def _ms(started):
    return int((time.monotonic() - started) * 1000)
