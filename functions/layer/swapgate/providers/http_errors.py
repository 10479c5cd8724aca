"""What a provider's answer, or a call that got none, means: THE status -> error table, the message
rules that sharpen it, ``Retry-After``, and the transport failures.

The one place this mapping lives; the HTTP client (:mod:`swapgate.providers.http`) and the adapters
(for envelope codes and failed jobs) apply it.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType

import requests

from swapgate.errors import (
    FaceIndexOutOfRange,
    NoFaceDetected,
    ProviderAccountBlocked,
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


def transport_error(exc: requests.exceptions.RequestException, *, provider: str) -> ProviderBusy:
    """The error for a call that got no HTTP answer (always busy: worth trying again later)."""
    connect_failed = is_connect_failure(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        what = "connect timeout" if connect_failed else "read timeout"
    elif connect_failed:
        what = "connection failed"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        what = "connection lost"
    else:
        what = type(exc).__name__
    return ProviderBusy(f"{provider} unreachable ({what})")


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
