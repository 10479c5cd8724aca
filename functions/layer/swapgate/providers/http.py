"""The HTTP client every provider adapter uses, and THE table from provider answers to typed errors.

One :class:`ProviderHttp` per provider client holds one ``requests.Session`` (connections are reused
across calls and, when the client is cached, across Lambda invocations). Every call carries a connect
and a read timeout.

Two kinds of calls:

* ``read`` (a fetch: asking again is harmless): retryable errors are retried with jittered exponential
  backoff, a small number of times; a ``Retry-After`` is honoured (waited at least) when it is short
  enough, otherwise the :class:`~swapgate.errors.ProviderRateLimited` error goes up with it.
* ``submit`` (starts paid work): never retried once the request may have reached the provider, since
  a second attempt can charge twice. Only a failure to *connect* (refused, DNS, connect timeout) is
  retried; a read timeout, a reset after sending, or any answer is final.

API keys are given as auth headers; they never appear in logs, exception messages or reprs (they
are redacted from provider messages too, in case a provider echoes them).
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

import requests
from requests.auth import AuthBase

from swapgate import budget
from swapgate.errors import (
    FaceIndexOutOfRange,
    NoFaceDetected,
    ProviderAccountBlocked,
    ProviderAnswerUnknown,
    ProviderAuthFailed,
    ProviderBadResponse,
    ProviderBusy,
    ProviderError,
    ProviderInvalidInput,
    ProviderJobNotFound,
    ProviderQuotaExhausted,
    ProviderRateLimited,
    SwapgateError,
)

logger = logging.getLogger(__name__)

CallKind = Literal["read", "submit"]

# --- the error table ---------------------------------------------------------------------------

#: Provider HTTP status (or an envelope code that is an HTTP status) -> the error it means.
#: The one place this mapping lives; :func:`error_for` applies it.
STATUS_ERRORS: Mapping[int, type[ProviderError]] = MappingProxyType(
    {
        400: ProviderInvalidInput,
        401: ProviderAuthFailed,
        402: ProviderQuotaExhausted,
        403: ProviderAccountBlocked,
        404: ProviderJobNotFound,
        408: ProviderBusy,
        413: ProviderInvalidInput,
        415: ProviderInvalidInput,
        422: ProviderInvalidInput,
        429: ProviderRateLimited,
        499: ProviderBusy,  # TTAPI: queue full, retry later
        500: ProviderBusy,
        502: ProviderBusy,
        503: ProviderBusy,
        504: ProviderBusy,
    }
)

#: Provider messages that mean the account ran out of quota, balance, points or credits.
QUOTA_MESSAGE = re.compile(
    r"\b(quota|balance|credits|points|recharge|insufficient\s+(funds|quota|balance|credits?|points?))\b",
    re.IGNORECASE,
)
#: Provider messages that mean the picture has no usable face.
NO_FACE_MESSAGE = re.compile(
    r"\bno\s+faces?\b|\bfaces?\s+(was\s+|were\s+)?not\s+(found|detected)\b"
    r"|\b(cannot|can't|could\s+not|couldn't|unable\s+to|failed\s+to)\s+(detect|find)\s+(any\s+)?faces?\b",
    re.IGNORECASE,
)

#: Provider messages that mean a face index names no face in the picture.
FACE_INDEX_MESSAGE = re.compile(
    r"\bindex\b.*\bout\s+of\s+range\b|\bout\s+of\s+range\b.*\bindex", re.IGNORECASE
)

#: Table rows whose meaning a provider message may sharpen (a 400 that says "insufficient balance"
#: is quota, not bad input). Auth, not-found, rate-limit and busy rows are never overridden.
_MESSAGE_OVERRIDABLE = (ProviderInvalidInput, ProviderError)


def error_class_for(status: int | None, message: str = "") -> type[SwapgateError]:
    """The error class a provider status/code plus its message mean.

    ``status`` is an HTTP status or an envelope code; ``None`` means "a failure with no code" (for
    example a job the provider reports as failed). Unknown 5xx are busy, unknown 4xx invalid input,
    other codes (3xx, provider-specific numbers) a generic :class:`ProviderError`.
    """
    if status is not None and status in STATUS_ERRORS:
        cls: type[SwapgateError] = STATUS_ERRORS[status]
    elif status is not None and 500 <= status <= 599:
        cls = ProviderBusy
    elif status is not None and 400 <= status <= 499:
        cls = ProviderInvalidInput
    elif status is not None and 300 <= status <= 399:
        cls = ProviderBadResponse  # redirects are not followed: not the documented answer
    else:
        cls = ProviderError
    if cls in _MESSAGE_OVERRIDABLE and message:
        if QUOTA_MESSAGE.search(message):
            return ProviderQuotaExhausted
        if NO_FACE_MESSAGE.search(message):
            return NoFaceDetected
        if FACE_INDEX_MESSAGE.search(message):
            return FaceIndexOutOfRange
    return cls


def error_for(
    status: int | None,
    message: str = "",
    *,
    provider: str,
    retry_after: float | None = None,
    label: str = "HTTP",
) -> SwapgateError:
    """Build the typed error for a provider answer (``label`` says what ``status`` is: HTTP, code)."""
    cls = error_class_for(status, message)
    where = f"{label} {status}" if status is not None else "failed"
    text = f"{provider} answered {where}"
    if message:
        text += f": {message}"
    error = cls(text, retry_after=retry_after if cls is ProviderRateLimited else None)
    error.provider_status = status
    return error


def message_code(message: str | None) -> str | None:
    """The error code a failed job's provider message means (quota, no face, face index), else
    ``None``."""
    if not message:
        return None
    cls = error_class_for(None, message)
    return cls.code if cls is not ProviderError else None


def parse_retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), else ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or (lambda: datetime.now(UTC)))()).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# --- the client --------------------------------------------------------------------------------


class _HeaderAuth(AuthBase):
    """Adds the auth headers to each request. As ``session.auth`` it also keeps requests from
    replacing them with ``~/.netrc`` credentials, and keeps them out of ``session.headers``."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self._headers)
        return request

    def __repr__(self) -> str:
        return f"<auth headers {sorted(self._headers)} hidden>"


_NOT_JSON = object()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_MESSAGE_CHARS = 300


class ProviderHttp:
    """A provider's HTTP client: base URL, auth headers, timeouts, retries, error mapping.

    ``sleep`` and ``jitter`` (a function returning a float in ``[0, 1)``) are injectable so tests can
    record the waits instead of sleeping.
    """

    def __init__(
        self,
        base_url: str,
        auth_headers: Mapping[str, str],
        *,
        provider: str,
        connect_timeout: float = 3.05,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 4.0,
        max_retry_after: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        user_agent: str | None = None,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._jitter = jitter
        self._secrets = _secret_parts(auth_headers)
        self._session = requests.Session()
        self._session.auth = _HeaderAuth(auth_headers)
        from swapgate import __version__

        self._session.headers.update(
            {"Accept": "application/json", "User-Agent": user_agent or f"swapgate/{__version__}"}
        )

    def __repr__(self) -> str:
        return (
            f"ProviderHttp(provider={self.provider!r}, base_url={self.base_url!r}, auth=<hidden>, "
            f"timeouts=({self.connect_timeout}, {self.read_timeout}))"
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ProviderHttp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public calls ---------------------------------------------------------------------------

    def submit(
        self,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        check: Callable[[dict], None] | None = None,
    ) -> dict:
        """POST something that starts (paid) work. Retried only when the connection never opened.

        Raises ProviderAnswerUnknown when the request was sent but no answer came: the provider may
        have accepted it."""
        try:
            return self.request("POST", path, kind="submit", json=json, data=data, files=files, check=check)
        except ProviderBusy as exc:
            sent = isinstance(exc.__cause__, requests.exceptions.RequestException)
            if sent and not is_connect_failure(exc.__cause__):
                raise ProviderAnswerUnknown(exc.message) from exc.__cause__
            raise

    def read(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        check: Callable[[dict], None] | None = None,
    ) -> dict:
        """A read (asking again is harmless): retryable errors are retried with backoff."""
        return self.request(method, path, kind="read", json=json, params=params, check=check)

    def request(
        self,
        method: str,
        path: str,
        *,
        kind: CallKind,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        params: Any = None,
        check: Callable[[dict], None] | None = None,
    ) -> dict:
        """Send one call with the retry policy of ``kind``; answer the JSON object the provider sent.

        ``check`` validates a 2xx JSON object (for example a provider envelope) and raises a
        :class:`SwapgateError`; it runs inside the retry loop, so a retryable envelope error of a
        read is retried like an HTTP one.
        """
        if kind not in ("read", "submit"):
            raise ValueError("kind must be 'read' or 'submit'")
        url = self.base_url + "/" + path.lstrip("/")
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            cause: BaseException | None = None
            try:
                response = self._session.request(
                    method,
                    url,
                    json=json,
                    data=data,
                    files=files,
                    params=params,
                    timeout=budget.timeouts(self.connect_timeout, self.read_timeout),
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as exc:
                cause = exc
                error, connect_failed = self._transport_error(exc)
                may_retry = connect_failed or (kind == "read" and error.retryable)
                logger.info(
                    "provider call failed",
                    extra={
                        "provider": self.provider,
                        "method": method,
                        "path": path,
                        "attempt": attempt,
                        "error": error.code,
                        "connect_failed": connect_failed,
                        "elapsed_ms": round((time.monotonic() - started) * 1000),
                    },
                )
            else:
                logger.info(
                    "provider call",
                    extra={
                        "provider": self.provider,
                        "method": method,
                        "path": path,
                        "attempt": attempt,
                        "status": response.status_code,
                        "elapsed_ms": round((time.monotonic() - started) * 1000),
                    },
                )
                try:
                    return self._answer(response, check)
                except SwapgateError as exc:
                    error = exc
                    may_retry = kind == "read" and exc.retryable
            if not may_retry or attempt >= self.max_attempts:
                raise error from cause
            delay = self._delay(attempt, error.retry_after)
            if delay is None:
                raise error from cause
            logger.warning(
                "retrying provider call",
                extra={
                    "provider": self.provider,
                    "method": method,
                    "path": path,
                    "attempt": attempt,
                    "error": error.code,
                    "delay_s": round(delay, 3),
                },
            )
            self._sleep(delay)

    # -- internals ------------------------------------------------------------------------------

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds before attempt ``attempt + 1``: equal-jitter exponential backoff, at least the
        provider's Retry-After; ``None`` when the Retry-After is too long to wait for here."""
        backoff = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        delay = backoff / 2 + backoff / 2 * self._jitter()
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            delay = max(delay, retry_after)
        return delay

    def _transport_error(self, exc: requests.exceptions.RequestException) -> tuple[SwapgateError, bool]:
        """The error for a call that got no HTTP answer, and whether the connection never opened."""
        connect_failed = is_connect_failure(exc)
        if isinstance(exc, requests.exceptions.Timeout):
            what = "connect timeout" if connect_failed else "read timeout"
        elif connect_failed:
            what = "connection failed"
        elif isinstance(exc, requests.exceptions.ConnectionError):
            what = "connection lost"
        else:
            what = type(exc).__name__
        return ProviderBusy(f"{self.provider} unreachable ({what})"), connect_failed

    def _answer(self, response: requests.Response, check: Callable[[dict], None] | None) -> dict:
        status = response.status_code
        payload = _json(response)
        if 200 <= status <= 299:
            if not isinstance(payload, dict):
                shape = "a non-JSON body" if payload is _NOT_JSON else f"a JSON {type(payload).__name__}"
                raise ProviderBadResponse(f"{self.provider} answered HTTP {status} with {shape}")
            if check is not None:
                check(payload)
            return payload
        message = self._message(payload, response)
        raise error_for(
            status,
            message,
            provider=self.provider,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _message(self, payload: Any, response: requests.Response) -> str:
        text: Any = None
        if isinstance(payload, dict):
            for key in ("message", "msg", "error", "detail", "error_message"):
                value = payload.get(key)
                if isinstance(value, dict):
                    value = value.get("message") or value.get("msg")
                if isinstance(value, str) and value.strip():
                    text = value
                    break
        elif payload is _NOT_JSON:
            ctype = response.headers.get("Content-Type", "")
            if ctype.startswith("text/") or not ctype:
                text = response.text[:MAX_MESSAGE_CHARS]
        return self.clean(text or "")

    def clean(self, text: str) -> str:
        """A provider message fit for our messages and logs: secrets redacted, one line, short."""
        return clean_message(text, self._secrets)


def clean_message(text: Any, secrets: tuple[str, ...] = ()) -> str:
    if not isinstance(text, str):
        return ""
    for secret in secrets:
        text = text.replace(secret, "***")
    text = _CONTROL.sub(" ", text).strip()
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


def _secret_parts(headers: Mapping[str, str]) -> tuple[str, ...]:
    """Every secret-looking piece of the auth header values (``Bearer abc`` -> ``Bearer abc``, ``abc``),
    longest first so that redaction never leaves a tail behind."""
    parts: set[str] = set()
    for value in headers.values():
        if not value:
            continue
        parts.add(value)
        for piece in value.split():
            if len(piece) >= 4 and piece.lower() != "bearer":
                parts.add(piece)
    return tuple(sorted(parts, key=len, reverse=True))


# --- answer helpers shared by the adapters ------------------------------------------------------


def int_or_none(value: Any) -> int | None:
    """A cost or count as an int, tolerating ``2``, ``2.0`` and ``"2"``; anything else is ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def load_body(body: bytes | str | dict[str, Any], *, provider: str, form_ok: bool = False) -> dict:
    """A webhook body as a dict: already a dict, JSON, or (``form_ok``) form-urlencoded."""
    if isinstance(body, dict):
        return body
    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else body
    if not isinstance(text, str):
        raise ProviderBadResponse(f"{provider} webhook body is not JSON")
    try:
        payload = jsonlib.loads(text)
    except ValueError:
        payload = None
        if form_ok and "=" in text:
            from urllib.parse import parse_qsl

            pairs = parse_qsl(text.strip(), keep_blank_values=True)
            payload = dict(pairs) if pairs else None
        if payload is None:
            raise ProviderBadResponse(f"{provider} webhook body is not JSON") from None
    if not isinstance(payload, dict):
        raise ProviderBadResponse(f"{provider} webhook body is not a JSON object")
    return payload


def _json(response: requests.Response) -> Any:
    if not response.content:
        return _NOT_JSON
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def is_connect_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the TCP/TLS connection never opened, so the request cannot have reached
    the provider: refused, unreachable, DNS failure, or a connect timeout. A read timeout or a
    connection reset after the request was sent is not."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return False
    if not isinstance(exc, requests.exceptions.ConnectionError) or not exc.args:
        return False
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    inner = exc.args[0]
    # requests wraps urllib3's connect failures as MaxRetryError(reason=NewConnectionError(...));
    # failures after sending come as a bare ProtocolError / OSError instead.
    return isinstance(inner, MaxRetryError) and isinstance(inner.reason, NewConnectionError)
