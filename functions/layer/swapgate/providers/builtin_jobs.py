"""The built-in engine's job record, ``engine/{job_id}.json`` in the bucket: the job id's form, the keys,
what a job asks for (its inputs, indexes and webhook), the states it moves through with their
deadlines, and reading the record (or the webhook, which has the same shape) as a :class:`ProviderJob`.

A record not finished by its ``deadline`` is read as failed: the engine that should have ended it has
crashed, run out of memory or time, or never received the job. So the poller's fetch ends such a job
even though nobody will write the record again.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from swapgate.errors import ProviderBadResponse
from swapgate.providers.base import Operation, ProviderJob, ProviderState
from swapgate.providers.http import clean_message

KEY_PREFIX = "engine/"
# `local-` ids come from before the provider was renamed; they are still read.
JOB_ID_RE = re.compile(r"^(?:builtin|local)-[0-9a-f]{32}$")

#: how long a job may stay queued: the EngineFunction's async events live at most 900 s
#: (EventInvokeConfig.MaximumEventAgeInSeconds in template.yaml), retries included, plus its start-up
QUEUED_SECONDS = 900 + 60
#: added to a run's own time limit before a running record counts as abandoned
GRACE_SECONDS = 30

STALE_MESSAGE = "the built-in engine stopped before finishing the job (it crashed or ran out of time)"


def now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def new_job_id() -> str:
    return f"builtin-{uuid.uuid4().hex}"


def state_key(job_id: str) -> str:
    return f"{KEY_PREFIX}{job_id}.json"


def result_key(job_id: str, extension: str) -> str:
    return f"{KEY_PREFIX}{job_id}.{extension}"


def input_key(job_id: str, name: str, extension: str) -> str:
    """Where an input given as bytes waits for the engine (the bucket's lifecycle removes it)."""
    return f"{KEY_PREFIX}{job_id}/{name}.{extension}"


def queued(job_id: str, operation: Operation, request: dict[str, Any]) -> dict[str, Any]:
    """A new record. ``request``: ``source`` and ``faces`` (image references: ``{"key": ...}`` in the
    bucket or ``{"url": ...}``), ``indexes`` (``None`` for a plain swap) and ``webhook_url``."""
    created = now()
    return {
        "job_id": job_id,
        "operation": operation.value,
        "state": ProviderState.QUEUED.value,
        "result_url": None,
        "error": None,
        "created_at": _stamp(created),
        "finished_at": None,
        "deadline": _stamp(created + timedelta(seconds=QUEUED_SECONDS)),
        "request": request,
    }


def running(state: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The record once an engine has taken the job, which it must end within ``seconds``."""
    started = now()
    deadline = started + timedelta(seconds=seconds + GRACE_SECONDS)
    return {
        **state,
        "state": ProviderState.RUNNING.value,
        "started_at": _stamp(started),
        "deadline": _stamp(deadline),
    }


def succeeded(state: dict[str, Any], result_url: str) -> dict[str, Any]:
    return {
        **state,
        "state": ProviderState.SUCCEEDED.value,
        "result_url": result_url,
        "finished_at": _stamp(now()),
    }


def failed(state: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    return {
        **state,
        "state": ProviderState.FAILED.value,
        "error": {"code": code, "message": message},
        "finished_at": _stamp(now()),
    }


def is_stale(payload: dict[str, Any], at: datetime | None = None) -> bool:
    """Whether an unfinished record is past its deadline (a record without one never is)."""
    if payload.get("state") not in (ProviderState.QUEUED.value, ProviderState.RUNNING.value):
        return False
    try:
        deadline = datetime.fromisoformat(payload["deadline"])
    except (KeyError, TypeError, ValueError):
        return False
    return (at or now()) > deadline


def job_from(payload: dict[str, Any], *, provider: str, source: str) -> ProviderJob:
    """The job a record or webhook describes; ``source`` names which, for the errors."""
    job_id = payload.get("job_id")
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise ProviderBadResponse(f"built-in engine {source} has no valid job_id")
    try:
        state = ProviderState(payload.get("state"))
    except ValueError:
        raise ProviderBadResponse(f"built-in engine {source} has no valid state") from None
    if is_stale(payload):
        return ProviderJob(
            provider,
            job_id,
            ProviderState.FAILED,
            cost=0,
            error_code="provider_job_failed",
            error_message=STALE_MESSAGE,
        )
    if state is ProviderState.SUCCEEDED:
        result_url = payload.get("result_url")
        if not isinstance(result_url, str) or not result_url.startswith("s3://"):
            raise ProviderBadResponse(f"built-in engine {source} reports success without an s3:// result_url")
        return ProviderJob(provider, job_id, state, result_url=result_url, cost=0)
    if state is ProviderState.FAILED:
        error = payload.get("error")
        error = error if isinstance(error, dict) else {}
        code = error.get("code") if isinstance(error.get("code"), str) else None
        message = clean_message(error.get("message"))
        return ProviderJob(
            provider,
            job_id,
            state,
            cost=0,
            error_code=code or "provider_job_failed",
            error_message=message or "the built-in engine could not swap the faces",
        )
    return ProviderJob(provider, job_id, state, cost=0)
