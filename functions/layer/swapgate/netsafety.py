"""The outbound URL policy: what Swapgate fetches or calls must be a public https endpoint.

Result URLs arrive in webhooks and client webhook URLs arrive in requests: without these checks a
forged URL could make Swapgate reach internal services (SSRF). A URL is parsed the way urllib3 (under
requests) parses it and refused where the standard library reads it differently; its host is resolved
once and every address checked. :mod:`swapgate.outbound` connects to the checked address itself, so
the policy holds where the connection is made; :func:`check_url` applies it at submit time.

Only the local stack and tests turn on ``SWAPGATE_ALLOW_PRIVATE_URLS``, which admits http and
loopback or private addresses (the form of the URL is still checked).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.util import parse_url

from swapgate.config import allow_private_urls
from swapgate.errors import HostNotFound, InvalidRequest

MAX_URL_LENGTH = 2048

_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]|\s")
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_LOCAL_NAMES = (".localhost", ".local", ".internal")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the IPv4 address is the last 32 bits
# Refused whatever Python's is_global says (it differs between versions) and whatever they embed.
_REFUSED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "100.64.0.0/10",  # shared address space (CGNAT)
        "192.0.0.0/24",  # IETF protocol assignments
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
    )
)
_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # IPv4-compatible (deprecated), with :: and ::1
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/32",  # Teredo
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "fc00::/7",  # unique-local
        "fec0::/10",  # site-local (deprecated)
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)


def is_public(ip: IPAddress) -> bool:
    """True for an address on the public internet; IPv4 inside IPv6 (mapped, NAT64) is judged as IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.scope_id or any(ip in net for net in _REFUSED_V6):
            return False
    elif any(ip in net for net in _REFUSED_V4):
        return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


@dataclass(frozen=True)
class Target:
    """Where a URL leads, as the connection will use it."""

    scheme: str
    host: str  # an ASCII host name without a trailing dot, or an IP address
    literal: IPAddress | None  # the host, when it is an IP address
    port: int
    path: str  # the request target: path and query, percent-encoded

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if isinstance(self.literal, ipaddress.IPv6Address) else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def refuse(name: str, problem: str, field: str) -> InvalidRequest:
    return InvalidRequest(f"{name} {problem}", field=field)


def parse(url: object, field: str, name: str | None = None) -> Target:
    """Parse ``url`` as urllib3 does, refusing any form the standard library reads differently.

    Raises InvalidRequest naming ``field``; its message starts with ``name`` (default ``field``).
    """
    name = name or field
    if not isinstance(url, str) or not url:
        raise refuse(name, "must be a URL", field)
    if len(url) > MAX_URL_LENGTH:
        raise refuse(name, f"is longer than {MAX_URL_LENGTH} characters", field)
    if _UNSAFE_CHARACTERS.search(url):
        raise refuse(name, "must not contain spaces, control characters or backslashes", field)
    try:
        ours, theirs = urlsplit(url), parse_url(url)
        port, our_host = ours.port, ours.hostname
    except (ValueError, UnicodeError):  # urllib3's LocationParseError is a ValueError
        raise refuse(name, "is not a valid URL", field) from None
    schemes = ("https", "http") if allow_private_urls() else ("https",)
    if ours.scheme not in schemes or theirs.scheme != ours.scheme:
        raise refuse(name, "must be an https URL", field)
    if "@" in ours.netloc or theirs.auth is not None:
        raise refuse(name, "must not contain a user name or password", field)
    if "%" in ours.netloc:
        raise refuse(name, "must not percent-encode its host or name an IPv6 zone", field)
    host = (theirs.host or "").strip("[]")
    if not our_host or not host or theirs.port != port or (our_host.isascii() and our_host != host):
        raise refuse(name, "is not a valid URL", field)
    if port == 0:
        raise refuse(name, "has an invalid port", field)
    literal = _host_literal(host, name, field)
    host = host.removesuffix(".") if literal is None else str(literal)
    if not allow_private_urls() and (host == "localhost" or host.endswith(_LOCAL_NAMES)):
        raise refuse(name, "points to a private or loopback address", field)
    return Target(
        scheme=ours.scheme,
        host=host,
        literal=literal,
        port=port or (443 if ours.scheme == "https" else 80),
        path=theirs.request_uri,
    )


def _host_literal(host: str, name: str, field: str) -> IPAddress | None:
    """The host's IP address when it is one; None for a valid host name; refuse anything else
    (numeric forms other than dotted-quad IPv4, such as 2130706433, 0x7f.1 or 127.1)."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise refuse(name, "has an invalid IPv6 address", field) from None
    labels = host.removesuffix(".").split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            return ipaddress.IPv4Address(".".join(labels))
        except ValueError:
            raise refuse(name, "has a numeric host that is not a dotted IPv4 address", field) from None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise refuse(name, "has an invalid host name", field)
    return None


def checked_addresses(target: Target, field: str, name: str | None = None) -> list[IPAddress]:
    """The host's addresses, resolved once, every one checked.

    Raises InvalidRequest naming ``field`` when one is not public, HostNotFound when there are none.
    """
    if target.literal is not None:
        addresses = [target.literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            infos = []
        families = (socket.AF_INET, socket.AF_INET6)
        found = (ipaddress.ip_address(info[4][0]) for info in infos if info[0] in families)
        addresses = list(dict.fromkeys(found))
        if not addresses:
            raise HostNotFound(target.host)
    if not allow_private_urls() and not all(is_public(address) for address in addresses):
        raise refuse(name or field, "points to a private or loopback address", field)
    return addresses


def check_url(url: str, field: str, *, resolve: bool = True) -> str:
    """Return ``url`` when it is an https URL whose host resolves only to public addresses.

    Raises InvalidRequest naming ``field`` otherwise. With ``resolve=False`` only the form and a
    literal IP host are checked (for URLs that must not be looked up at submit time).
    """
    target = parse(url, field)
    if resolve or target.literal is not None:
        try:
            checked_addresses(target, field)
        except HostNotFound:
            raise refuse(field, "has a host name that does not resolve", field) from None
    return url
