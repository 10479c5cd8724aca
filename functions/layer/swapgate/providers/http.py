"""The HTTP client every provider adapter uses (what its answers mean: :mod:`.http_errors`).

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

import itertools
import json as jsonlib
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import requests
from requests.auth import AuthBase

from swapgate import budget
from swapgate.errors import ProviderAnswerUnknown, ProviderBadResponse, ProviderBusy, SwapgateError
from swapgate.providers.http_errors import error_for, is_connect_failure, parse_retry_after, transport_error
from swapgate.retry import Backoff, call_with_retries

logger = logging.getLogger(__name__)

CallKind = Literal["read", "submit"]

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
        self.backoff = Backoff(backoff_base, backoff_cap, jitter=True)
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
        call = {"provider": self.provider, "method": method, "path": path}  # for the logs
        attempts = itertools.count(1)

        def attempt() -> dict:
            log = {**call, "attempt": next(attempts)}
            started = time.monotonic()
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
                error = transport_error(exc, provider=self.provider)
                log.update(error=error.code, connect_failed=is_connect_failure(exc))
                logger.info("provider call failed", extra={**log, "elapsed_ms": _ms_since(started)})
                raise error from exc
            log.update(status=response.status_code, elapsed_ms=_ms_since(started))
            logger.info("provider call", extra=log)
            return self._answer(response, check)

        def may_retry(exc: Exception) -> bool:
            if not isinstance(exc, SwapgateError):
                return False
            # a submit is sent again only when its connection never opened: it cannot have arrived
            return (kind == "read" and exc.retryable) or is_connect_failure(exc.__cause__)

        def on_retry(number: int, exc: Exception, delay: float) -> None:
            extra = {
                **call,
                "attempt": number,
                "error": getattr(exc, "code", None),
                "delay_s": round(delay, 3),
            }
            logger.warning("retrying provider call", extra=extra)

        return call_with_retries(
            attempt,
            attempts=self.max_attempts,
            backoff=self.backoff,
            retry_on=may_retry,
            retry_after=lambda exc: getattr(exc, "retry_after", None),
            max_retry_after=self.max_retry_after,
            sleep=self._sleep,
            rand=self._jitter,
            on_retry=on_retry,
        )

    # -- internals ------------------------------------------------------------------------------

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


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _json(response: requests.Response) -> Any:
    if not response.content:
        return _NOT_JSON
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON
