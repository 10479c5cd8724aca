"""Following a job (``--wait``): long polls (``Prefer: wait``), else polling at growing intervals, and
its progress on stderr."""

from __future__ import annotations

import itertools
from time import monotonic, sleep
from typing import TYPE_CHECKING, Any, TextIO

from swapgate_cli.errors import ApiError, CliError, Unreachable

if TYPE_CHECKING:
    from swapgate_cli.client import Client

TERMINAL = ("succeeded", "failed", "timed_out", "canceled")
POLL_GROWTH = 1.5
POLL_MAX_INTERVAL = 10.0
POLL_FAILURES = 3  # consecutive failed polls tolerated while waiting
HEARTBEAT_SECONDS = 30.0  # a "still running" line this often when stderr is not a terminal
SERVER_WAIT = 20  # Prefer: wait=20, the most the API holds a request
TIMEOUT_MARGIN = 10.0  # of one request's --timeout, kept for the upload and the network


def server_wait(timeout: float, remaining: float | None = None) -> int | None:
    """The ``Prefer: wait`` to send: the API's maximum, well inside one request's ``timeout`` and no
    longer than what is ``remaining`` of ``--max-wait``; None when that leaves less than a second."""
    seconds = min(SERVER_WAIT, timeout - TIMEOUT_MARGIN)
    if remaining is not None:
        seconds = min(seconds, remaining)
    return int(seconds) if seconds >= 1 else None


class Progress:
    """Status changes and elapsed time on stderr; a spinner only when it is a terminal."""

    FRAMES = "|/-\\"

    def __init__(self, stream: TextIO, job_id: str, quiet: bool = False) -> None:
        self.stream, self.job_id, self.quiet = stream, job_id, quiet
        self.tty = not quiet and stream.isatty()
        self.frames = itertools.cycle(self.FRAMES)
        self.spinning = False
        self.last_line = 0.0

    def _clear(self) -> None:
        if self.spinning:
            self.stream.write("\r\033[K")
            self.spinning = False

    def line(self, text: str, elapsed: float) -> None:
        if self.quiet:
            return
        self._clear()
        self.stream.write(f"[{elapsed:6.1f}s] {text}\n")
        self.stream.flush()
        self.last_line = elapsed

    def tick(self, status: str, elapsed: float) -> None:
        if self.tty:
            self.stream.write(f"\r{next(self.frames)} job {self.job_id}: {status} {elapsed:5.0f}s")
            self.stream.flush()
            self.spinning = True
        elif elapsed - self.last_line >= HEARTBEAT_SECONDS:
            self.line(f"job {self.job_id}: still {status}", elapsed)

    def done(self) -> None:
        self._clear()
        self.stream.flush()


def wait_for(
    client: Client,
    job_id: str,
    *,
    interval: float,
    max_wait: float | None,
    progress: Progress,
    start: float | None = None,
) -> dict[str, Any]:
    """Follow the job until it ends (or ``max_wait`` after ``start`` passes): each GET asks the API to
    hold it until the job ends (``Prefer: wait``); when the API did not hold it, the next one comes
    after a growing interval."""
    start = monotonic() if start is None else start
    delay, last, failures = interval, None, 0
    job: dict[str, Any] = {}
    try:
        while True:
            held = False
            remaining = None if max_wait is None else max_wait - (monotonic() - start)
            wait = server_wait(client.timeout, remaining)
            asked_at = monotonic()
            try:
                answer = client.request(
                    "GET", f"/v1/swaps/{job_id}", headers={"Prefer": f"wait={wait}"} if wait else None
                )
                job, failures = answer.body, 0
                # held: the API waited as asked (a server that answers at once is polled at intervals)
                held = answer.waited and wait is not None and monotonic() - asked_at >= wait / 2
            except (Unreachable, ApiError) as exc:
                transient = isinstance(exc, Unreachable) or exc.status in (429, 502, 503, 504)
                failures += 1
                if not transient or failures > POLL_FAILURES:
                    raise
                progress.line(f"polling failed ({exc.message}); trying again", monotonic() - start)
            status = job.get("status", "unknown")
            elapsed = monotonic() - start
            if job and status != last:
                progress.line(f"job {job_id}: {status}", elapsed)
                last = status
            if status in TERMINAL:
                return job
            if max_wait is not None and elapsed >= max_wait:
                raise CliError(
                    f"job {job_id} is still {status} after {max_wait:g}s; "
                    f"see it later with: swapgate status {job_id}"
                )
            if held:
                continue  # the API already waited: ask again at once
            until = monotonic() + delay
            while (now := monotonic()) < until:
                progress.tick(status, now - start)
                sleep(min(0.1 if progress.tty else 1.0, until - now))
            delay = min(delay * POLL_GROWTH, POLL_MAX_INTERVAL)
    finally:
        progress.done()
