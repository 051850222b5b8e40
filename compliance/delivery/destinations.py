"""Where a webhook may go: never into the registry's own networks (SSRF).

A subscriber chooses the URL, and the registry's workers make the request, so
an unchecked URL would let any subscriber reach the database, the cloud
metadata service or an internal admin page. Every address the host resolves
to must be public; a private, loopback, link-local, multicast, reserved or
unspecified one refuses the destination, and so does an IPv6 address that
embeds such an IPv4 address for a relay or gateway to reach (IPv4-mapped,
6to4, Teredo, NAT64), unless the host (or a network it
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


# NAT64 (RFC 6052's well-known prefix, RFC 8215's local-use one): a gateway turns the address into
# the IPv4 one it embeds and connects there.
_NAT64_WKP = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded(ip):
    """The IPv4 addresses an IPv6 address carries and that a relay or gateway would reach.

    IPv4-mapped (::ffff:a.b.c.d), 6to4 (2002:AABB:CCDD::, relayed to a.b.c.d),
    Teredo (2001:0::/32: its server and its client) and NAT64. Each must be
    public on its own: `2002:7f00:1::` looks global and reaches 127.0.0.1.
    """
    if ip.version != 6:
        return []
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in _NAT64_WKP:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def _forbidden(ip):
    if ip.version == 6 and ip in _NAT64_LOCAL:
        return True  # where its IPv4 address sits depends on the local prefix length: not guessed
    if any(_forbidden(v4) for v4 in _embedded(ip)):
        return True
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


_UNREACHABLE = "{host} does not resolve to a public address"


def resolve(url):
    """The checked addresses to connect to, in resolver order; DestinationRefused if any is off-limits."""
    _scheme, host, port = parse(url)
    hosts, networks = _allowed()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DestinationRefused(_UNREACHABLE.format(host=host)) from None
    addresses = []
    for info in infos:
        address = info[4][0]
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if host not in hosts and not any(ip in net for net in networks) and _forbidden(ip):
            # One answer for a name that resolves to an internal address and for one that does not resolve,
            # naming no address: the registry's resolver is no oracle for which internal names exist.
            raise DestinationRefused(_UNREACHABLE.format(host=host))
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise DestinationRefused(_UNREACHABLE.format(host=host))
    return addresses


def check(url):
    """Raise DestinationRefused unless the URL may be called now."""
    resolve(url)
