"""The time the current invocation has left, so that a provider call ends before the answer is due.

A handler opens :func:`until` with its deadline (the API: before API Gateway's 29 s limit, less what
it needs after the call); the provider HTTP client asks :func:`timeouts` for each request's connect
and read timeouts, cut to what is left. Outside :func:`until` nothing is cut. A context variable,
so that it follows the invocation and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from swapgate.errors import ProviderBusy

#: a provider call given less than this is not made: it could not get an answer
MIN_CALL_SECONDS = 1.0

_deadline: ContextVar[float | None] = ContextVar("swapgate_deadline", default=None)  # time.monotonic()


@contextmanager
def until(seconds_left: float | None) -> Iterator[None]:
    """Calls inside the block must end within ``seconds_left`` seconds from now (None: no limit)."""
    token = _deadline.set(None if seconds_left is None else time.monotonic() + seconds_left)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left (None: no limit)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def timeouts(connect: float, read: float) -> tuple[float, float]:
    """A request's (connect, read) timeouts, each at most the time left. Raises ProviderBusy, before
    anything is sent, when less than MIN_CALL_SECONDS is left."""
    left = remaining()
    if left is None:
        return connect, read
    if left < MIN_CALL_SECONDS:
        raise ProviderBusy("no time left in this request to call the provider")
    return min(connect, left), min(read, left)


def seconds_left(
    context: object, *, received_ms: int | None = None, limit: float | None = None
) -> float | None:
    """What a Lambda invocation has left: its own remaining time, and with ``received_ms`` (when
    the caller got the request, epoch ms) and ``limit`` (the caller's own timeout), no more than
    that caller waits."""
    left = None
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining_ms):
        left = remaining_ms() / 1000
    if received_ms and limit:
        waited = limit - (time.time() - received_ms / 1000)
        left = waited if left is None else min(left, waited)
    return left
