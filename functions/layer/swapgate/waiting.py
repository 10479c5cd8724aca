"""Holding a request open until its job ends (``Prefer: wait``), without a hot read loop.

The API reads the job again at growing intervals: 0.25 s, doubling to 2 s (``WAIT_BACKOFF``), each a
consistent read of one small item (one read request unit). A 20 s wait for a job that does not end
costs 13 reads (at 0.25, 0.75, 1.75, 3.75 s, then every 2 s, and one at the end); a job is seen ended
at most 0.25 s late in its first 0.25 s, 0.5 s late up to 0.75 s, 1 s up to 1.75 s, 2 s after that.
Webhooks and the poller finish jobs in other functions, so the table is where a waiting request
learns of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from swapgate.jobs import Job
from swapgate.retry import Backoff

#: the wait between reads: 0.25 s doubling to 2 s
WAIT_BACKOFF = Backoff(base=0.25, cap=2.0)


def wait_for_end(
    read: Callable[[], Job],
    until: float,
    *,
    job: Job | None = None,
    backoff: Backoff = WAIT_BACKOFF,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Job:
    """The job once it is terminal, or as it stands when ``clock()`` reaches ``until``.

    ``job`` is a state already in hand (no first read); ``read`` reads it again.
    """
    current = job if job is not None else read()
    attempt = 0
    while not current.status.terminal:
        remaining = until - clock()
        if remaining <= 0:
            break
        attempt += 1
        sleep(min(backoff.delay(attempt), remaining))
        current = read()
    return current
