"""Outbound URL safety: what Swapgate fetches or calls must be a public https endpoint.

Result URLs arrive in webhooks and client webhook URLs arrive in requests: without these checks a
forged URL could make Swapgate reach internal services (SSRF). Only the local stack and tests turn on
``SWAPGATE_ALLOW_PRIVATE_URLS``, which admits http and loopback addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from swapgate.config import allow_private_urls
from swapgate.errors import InvalidRequest


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, field: str, *, resolve: bool = True) -> str:
    """Return ``url`` when it is an https URL whose host resolves only to public addresses.

    Raises InvalidRequest naming ``field`` otherwise. With ``resolve=False`` only the form and a
    literal IP host are checked (for URLs that must not be looked up at submit time).
    """
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"{field} must be a URL", field=field)
    parts = urlsplit(url)
    private_ok = allow_private_urls()
    allowed_schemes = ("https", "http") if private_ok else ("https",)
    if parts.scheme not in allowed_schemes or not parts.hostname:
        raise InvalidRequest(f"{field} must be an https URL", field=field)
    if private_ok:
        return url
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if not _is_public(host):
            raise InvalidRequest(f"{field} points to a private or loopback address", field=field)
        return url
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise InvalidRequest(f"{field} points to a private or loopback address", field=field)
    if resolve:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise InvalidRequest(f"{field} has a host name that does not resolve", field=field) from exc
        if not infos or not all(_is_public(info[4][0]) for info in infos):
            raise InvalidRequest(f"{field} points to a private or loopback address", field=field)
    return url
