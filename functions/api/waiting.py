"""How long a request waits and how long its job may run: ``Prefer: wait`` and ``Cancel-After``.

``Prefer: wait`` / ``Prefer: wait=N`` (RFC 7240) on a create route or ``GET /v1/swaps/{id}`` holds the
answer until the job ends or N seconds pass (bare ``wait``: ``DEFAULT_WAIT_SECONDS``; at most
``MAX_WAIT_SECONDS``, which keeps the request inside API Gateway's 29 s integration timeout and the
function's own, with room for the submit before it). The answer is the job as it stands, with
``Preference-Applied: wait=N``: 201 (created) or 200 (GET) once it has ended, 202 while it still runs.
A malformed preference is ignored, as RFC 7240 asks. Without ``Prefer`` nothing changes.

``Cancel-After`` (``30s``, ``5m``, ``1h30m``, or plain seconds) gives one job a shorter deadline than
the deployment's job timeout (a longer one is capped to it): the poller ends it ``timed_out`` then.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from swapgate.errors import InvalidRequest
from swapgate.jobs import Job
from swapgate.poller import PollSettings
from swapgate.waiting import wait_for_end

from api_support import gateway, job_view

DEFAULT_WAIT_SECONDS = 10
MAX_WAIT_SECONDS = 20
#: API Gateway's integration timeout, counted from when it received the request (a cold start included)
API_GATEWAY_TIMEOUT_SECONDS = 29
#: time kept free before either timeout: the last read and the answer
MARGIN_SECONDS = 3.0

PreferHeader = Annotated[
    str | None,
    Header(
        alias="Prefer",
        description=(
            f"`wait` or `wait=N` (RFC 7240): answer when the job ends or after N seconds "
            f"(default {DEFAULT_WAIT_SECONDS}, at most {MAX_WAIT_SECONDS}), with the job as it stands"
        ),
        max_length=256,
    ),
]
CancelAfterHeader = Annotated[
    str | None,
    Header(
        alias="Cancel-After",
        description=(
            "this job's deadline: `30s`, `5m`, `1h30m` or seconds; it ends `timed_out` when it passes "
            "(capped by the deployment's job timeout)"
        ),
        max_length=32,
    ),
]

_PREFERENCE = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*("[^"]*"|[^;,\s]*))?')
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.IGNORECASE)


def requested_wait(prefer: str | None) -> int | None:
    """The seconds a ``wait`` preference asks for, at most the maximum; None when there is none or
    its value is not a number of seconds."""
    for preference in (prefer or "").split(","):
        match = _PREFERENCE.match(preference.split(";", 1)[0])
        if not match or match.group(1).lower() != "wait":
            continue
        value = (match.group(2) or "").strip('"')
        if not value:
            return DEFAULT_WAIT_SECONDS
        return min(int(value), MAX_WAIT_SECONDS) if value.isdigit() else None  # the first one counts
    return None


def job_timeout(cancel_after: str | None) -> int | None:
    """The seconds ``Cancel-After`` gives the job, capped by the job timeout; None when absent."""
    if cancel_after is None:
        return None
    text = cancel_after.strip()
    match = _DURATION.fullmatch(text)
    if text.isdigit():
        seconds = int(text)
    elif text and match:
        hours, minutes, secs = (int(part or 0) for part in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise InvalidRequest(
            f"Cancel-After must be a duration such as 30s, 5m or 1h30m, or a number of seconds; "
            f"got {text[:32]!r}",
            field="Cancel-After",
        )
    if seconds < 1:
        raise InvalidRequest("Cancel-After must be at least 1 second", field="Cancel-After")
    return min(seconds, PollSettings.from_env().timeout_seconds)


def request_start(received_ms: int | None) -> float:
    """When API Gateway received the request (``requestTimeEpoch``), on the monotonic clock; now when
    that is unknown or not within its timeout (a replayed sample event)."""
    now = time.monotonic()
    if not received_ms:
        return now
    age = time.time() - received_ms / 1000
    return now - age if 0 <= age < API_GATEWAY_TIMEOUT_SECONDS else now


def _until(started: float, wait: int, context: Any) -> float:
    """When waiting stops: ``wait`` seconds after the request began, but before API Gateway or the
    invocation would end it."""
    until = min(started + wait, started + API_GATEWAY_TIMEOUT_SECONDS - MARGIN_SECONDS)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        until = min(until, time.monotonic() + remaining() / 1000 - MARGIN_SECONDS)
    return until


def waited(job: Job, wait: int, *, started: float, context: Any, ended_status: int) -> Response:
    """The job once it has ended (``ended_status``) or after the wait (202), as ``GET`` shows it;
    ``started``: ``request_start``."""
    store = gateway().store
    job = wait_for_end(lambda: store.get(job.id), _until(started, wait, context), job=job)
    return Response(
        status_code=ended_status if job.status.terminal else 202,
        content_type="application/json",
        body=job_view(job).model_dump(),
        headers={"Preference-Applied": f"wait={wait}", "Vary": "Prefer"},
    )
