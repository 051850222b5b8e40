"""Where a webhook may go: never into the registry's own networks (SSRF).

A subscriber chooses the URL, and the registry's workers make the request, so
an unchecked URL would let any subscriber reach the database, the cloud
metadata service or an internal admin page. Every address the host resolves
to must be public; a private, loopback, link-local, multicast, reserved or
unspecified one refuses the destination, unless the host (or a network it
resolves into) is listed in CHIPREG_WEBHOOK_ALLOWED_HOSTS.

The check runs at subscription time (a clear 400) and again before every
attempt (DNS can change). The sender then connects to the very addresses that
were checked, so a second lookup cannot be steered elsewhere (DNS rebinding).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class DestinationRefused(Exception):
    """The URL may not be called; the message says why (it is shown to the subscriber)."""


def _allowed():
    hosts, networks = set(), []
    for entry in getattr(settings, "CHIPREG_WEBHOOK_ALLOWED_HOSTS", []) or []:
        entry = str(entry).strip().lower().strip("[]")
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry)
    return hosts, networks


def _forbidden(ip):
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def parse(url):
    """(scheme, host, port) of an http(s) URL, or DestinationRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise DestinationRefused("only http and https URLs are accepted")
    host = (parts.hostname or "").lower()
    if not host:
        raise DestinationRefused("the URL has no host")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def resolve(url):
    """The checked addresses to connect to, in resolver order; DestinationRefused if any is off-limits."""
    _scheme, host, port = parse(url)
    hosts, networks = _allowed()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationRefused(f"{host} does not resolve ({exc})") from None
    addresses = []
    for info in infos:
        address = info[4][0]
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if host not in hosts and not any(ip in net for net in networks) and _forbidden(ip):
            raise DestinationRefused(f"{host} resolves to {ip}, a non-public address")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise DestinationRefused(f"{host} does not resolve")
    return addresses


def check(url):
    """Raise DestinationRefused unless the URL may be called now."""
    resolve(url)
