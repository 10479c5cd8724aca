"""One retry policy for every loop that tries again: exponential backoff, capped, optionally jittered.

Used by the provider HTTP client (reads and unopened connections), the local engine's webhook sender,
batch reads of jobs, the notify function's redelivery delay (as an SQS visibility timeout) and the CLI.
Only the numbers differ between them; the shape of the wait and of the loop is written here once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """``base * 2 ** (attempt - 1)`` seconds, at most ``cap``; with ``jitter``, a random point in the
    upper half of that wait (equal jitter), so many clients retrying at once spread out."""

    base: float
    cap: float
    jitter: bool = False

    def delay(self, attempt: int, *, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the ``attempt``-th failed try (1-based)."""
        exponent = max(0, attempt - 1)
        wait = self.cap if exponent >= 32 else min(self.cap, self.base * 2**exponent)
        return wait / 2 + wait / 2 * rand() if self.jitter else wait


def call_with_retries(
    call: Callable[[], T],
    *,
    attempts: int,
    backoff: Backoff,
    retry_on: Callable[[Exception], bool],
    retry_after: Callable[[Exception], float | None] = lambda exc: None,
    max_retry_after: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
    on_retry: Callable[[int, Exception, float], None] | None = None,
) -> T:
    """``call()`` until it returns, at most ``attempts`` times.

    An exception for which ``retry_on`` is false, or the last one, is raised as it is. Between tries
    the wait is the backoff's, or longer when ``retry_after(exc)`` asks for it (a server's
    Retry-After); a Retry-After above ``max_retry_after`` is not waited for: the error is raised.
    ``on_retry(attempt, exc, delay)`` is told before each wait (for logs).
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as exc:
            if attempt >= attempts or not retry_on(exc):
                raise
            delay = backoff.delay(attempt, rand=rand)
            asked = retry_after(exc)
            if asked is not None:
                if max_retry_after is not None and asked > max_retry_after:
                    raise
                delay = max(delay, asked)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            sleep(delay)
