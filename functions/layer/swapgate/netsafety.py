"""Outbound URL safety: what Swapgate fetches or calls must be a public https endpoint.

Result URLs arrive in webhooks and client webhook URLs arrive in requests: without these checks a
forged URL could make Swapgate reach internal services (SSRF). Only the local stack and tests turn on
``SWAPGATE_ALLOW_PRIVATE_URLS``, which admits http and loopback addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from swapgate.config import allow_private_urls
from swapgate.errors import DownloadFailed, ImageTooLarge, InvalidRequest


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


DOWNLOAD_TIMEOUT = (3.05, 30)
MAX_REDIRECTS = 3


def download(url: str, *, field: str, what: str, session: Any, limit: int) -> bytes:
    """GET a public URL, every redirect re-checked with ``check_url``, refusing more than ``limit`` bytes.

    Raises InvalidRequest (a refused URL), ImageTooLarge, or DownloadFailed.
    """
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, field)
        try:
            response = session.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            raise DownloadFailed("could not be downloaded", retryable=True) from exc
        with response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("location", ""))
                continue
            if response.status_code != 200:
                status = response.status_code
                raise DownloadFailed(f"could not be downloaded (HTTP {status})", retryable=status >= 500)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise ImageTooLarge(f"{what} is larger than {limit} bytes", field=field)
            chunks, size = [], 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise ImageTooLarge(f"{what} is larger than {limit} bytes", field=field)
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise DownloadFailed("could not be downloaded", retryable=True) from exc
            return b"".join(chunks)
    raise DownloadFailed("URL redirects too often", retryable=False)
