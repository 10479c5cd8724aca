"""Outbound requests under the URL policy (:mod:`swapgate.netsafety`), each within a total deadline.

:func:`safe_request` parses and resolves the URL once, checks every address, and connects to the
checked address itself (urllib3 under requests, with the URL's host as TLS server name, certificate
name and ``Host`` header): a resolver that answers differently the second time never gets the
connection, and every redirect hop is checked the same way. Socket timeouts apply per read, so a
peer that drips bytes could hold a request for ever: a watchdog shuts the socket down when the
request's deadline (connect, headers and body together) passes.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from http.client import HTTPException
from typing import Any
from urllib.parse import urljoin

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError, NewConnectionError

from swapgate.errors import ImageTooLarge, RequestFailed, ResponseTooLarge
from swapgate.netsafety import HostNotFound, IPAddress, Target, checked_addresses, parse, refuse

DOWNLOAD_DEADLINE = 20.0  # seconds for a whole download, redirects included (callbacks have 29 s)
MAX_REDIRECTS = 3
USER_AGENT = "Swapgate/1"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """What a request got: the body is read for 2xx answers only, and only when ``max_bytes`` is given."""

    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    url: str  # the URL that answered, after redirects


def safe_request(
    method: str,
    url: str,
    *,
    field: str,
    deadline_s: float,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    max_bytes: int | None = None,
    max_redirects: int = 0,
) -> Answer:
    """Make one request under the URL policy, connected to the checked address, within ``deadline_s``.

    Every redirect hop (at most ``max_redirects``; with 0 a 3xx is the answer) is parsed, resolved
    and checked again. Raises InvalidRequest naming ``field`` for a refused URL (the first or a
    redirect's), ResponseTooLarge past ``max_bytes``, or RequestFailed (no answer in time, a host that
    does not resolve, a connection, TLS or protocol error, too many redirects).
    """
    deadline = _Deadline(deadline_s)
    try:
        name = field
        for _ in range(max_redirects + 1):
            target = parse(url, field, name)
            try:
                addresses = checked_addresses(target, field, name)
            except HostNotFound:
                raise RequestFailed("has a host name that does not resolve", retryable=True) from None
            answer = _exchange(method, target, addresses, deadline, headers, data, max_bytes)
            location = answer.headers.get("location")
            if answer.status not in _REDIRECT_STATUSES or not location or not max_redirects:
                return Answer(answer.status, answer.headers, answer.body, url)
            name = f"{field}'s redirect"
            try:
                url = urljoin(url, location)
            except ValueError:
                raise refuse(name, "is not a valid URL", field) from None
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, data = "GET", None
        raise RequestFailed("URL redirects too often", retryable=False)
    finally:
        deadline.close()


def download(url: str, *, field: str, what: str, limit: int, deadline_s: float = DOWNLOAD_DEADLINE) -> bytes:
    """GET a public URL (redirects followed, each checked) within ``deadline_s``, refusing more than
    ``limit`` bytes.

    Raises InvalidRequest (a refused URL), ImageTooLarge, or RequestFailed.
    """
    try:
        answer = safe_request(
            "GET", url, field=field, deadline_s=deadline_s, max_bytes=limit, max_redirects=MAX_REDIRECTS
        )
    except ResponseTooLarge:
        raise ImageTooLarge(f"{what} is larger than {limit} bytes", field=field) from None
    if answer.status != 200:
        status = answer.status
        raise RequestFailed(f"could not be downloaded (HTTP {status})", retryable=status >= 500)
    return answer.body


# --- the connection ------------------------------------------------------------------------------


class _Deadline:
    """A total deadline: when it passes, every socket it watches is shut down, which ends any read,
    write or TLS handshake blocked on it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if self.expired or left <= 0:
            raise self.failure()
        return left

    def failure(self) -> RequestFailed:
        return RequestFailed(f"did not answer within {self.seconds:g} s", retryable=True)

    def watch(self, sock: socket.socket) -> None:
        # a duplicate descriptor: TLS wrapping detaches the original, and shutdown(2) acts on the
        # socket whichever descriptor names it
        copy = sock.dup()
        with self._lock:
            self._sockets.append(copy)
            if self.expired:
                _shut(copy)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class _Watched:
    """A urllib3 connection whose socket the request's deadline watches."""

    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        self._deadline.watch(sock)
        return sock


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


@cache
def _tls_context() -> ssl.SSLContext:
    from requests.certs import where  # the CA bundle requests uses

    return ssl.create_default_context(cafile=where())


def _pool(target: Target, address: IPAddress, deadline: _Deadline) -> HTTPConnectionPool:
    """A pool of one connection to ``address``, the TLS server name and certificate name the URL's."""
    if target.scheme == "https":
        return _HTTPSPool(
            str(address),
            target.port,
            maxsize=1,
            deadline=deadline,
            server_hostname=target.host,
            ssl_context=_tls_context(),
        )
    return _HTTPPool(str(address), target.port, maxsize=1, deadline=deadline)


def _exchange(
    method: str,
    target: Target,
    addresses: list[IPAddress],
    deadline: _Deadline,
    headers: Mapping[str, str] | None,
    data: bytes | None,
    max_bytes: int | None,
) -> Answer:
    """One request to the first of ``addresses`` that accepts a connection."""
    sent = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
    sent.update({"Host": target.host_header, "Connection": "close"})
    failure: Exception | None = None
    for address in addresses:
        left = deadline.remaining()
        pool = _pool(target, address, deadline)
        try:
            response = pool.urlopen(
                method,
                target.path,
                body=data,
                headers=sent,
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                timeout=Timeout(connect=left, read=left),
            )
            try:
                body = b""
                if max_bytes is not None and 200 <= response.status < 300:
                    body = _read(response, deadline, max_bytes)
                if deadline.expired:  # the shutdown's end of file can look like the end of the answer
                    raise deadline.failure()
                return Answer(response.status, response.headers, body, "")
            finally:
                response.close()
        except NewConnectionError as exc:
            failure = exc  # refused or unreachable: the next checked address may answer
        except (HTTPError, HTTPException, OSError) as exc:
            raise _failed(exc, deadline) from exc
        finally:
            pool.close()
    raise _failed(failure, deadline)


def _read(response: Any, deadline: _Deadline, limit: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(limit)
    chunks, size = [], 0
    for chunk in response.stream(_CHUNK, decode_content=True):
        deadline.remaining()
        size += len(chunk)
        if size > limit:
            raise ResponseTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _failed(exc: Exception | None, deadline: _Deadline) -> RequestFailed:
    if deadline.expired or time.monotonic() >= deadline.end:
        return deadline.failure()
    cause = exc.__context__ if isinstance(exc, HTTPError) and exc.__context__ else exc
    return RequestFailed(f"could not be reached ({type(cause).__name__})", retryable=True)
