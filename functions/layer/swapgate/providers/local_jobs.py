"""The local engine's job document, ``engine/{job_id}.json`` in the bucket: the job id's form, the keys,
the states a job moves through, and reading it (or the webhook, which has the same shape) as a
:class:`ProviderJob`."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from swapgate.errors import ProviderBadResponse
from swapgate.providers.base import Operation, ProviderJob, ProviderState
from swapgate.providers.http import clean_message

KEY_PREFIX = "engine/"
JOB_ID_RE = re.compile(r"^local-[0-9a-f]{32}$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_job_id() -> str:
    return f"local-{uuid.uuid4().hex}"


def state_key(job_id: str) -> str:
    return f"{KEY_PREFIX}{job_id}.json"


def result_key(job_id: str, extension: str) -> str:
    return f"{KEY_PREFIX}{job_id}.{extension}"


def queued(job_id: str, operation: Operation) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "operation": operation.value,
        "state": ProviderState.QUEUED.value,
        "result_url": None,
        "error": None,
        "created_at": _now(),
        "finished_at": None,
    }


def running(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "state": ProviderState.RUNNING.value, "started_at": _now()}


def succeeded(state: dict[str, Any], result_url: str) -> dict[str, Any]:
    return {**state, "state": ProviderState.SUCCEEDED.value, "result_url": result_url, "finished_at": _now()}


def failed(state: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    return {
        **state,
        "state": ProviderState.FAILED.value,
        "error": {"code": code, "message": message},
        "finished_at": _now(),
    }


def job_from(payload: dict[str, Any], *, provider: str, source: str) -> ProviderJob:
    """The job a state document or webhook describes; ``source`` names which, for the errors."""
    job_id = payload.get("job_id")
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise ProviderBadResponse(f"local engine {source} has no valid job_id")
    try:
        state = ProviderState(payload.get("state"))
    except ValueError:
        raise ProviderBadResponse(f"local engine {source} has no valid state") from None
    if state is ProviderState.SUCCEEDED:
        result_url = payload.get("result_url")
        if not isinstance(result_url, str) or not result_url.startswith("s3://"):
            raise ProviderBadResponse(f"local engine {source} reports success without an s3:// result_url")
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
            error_message=message or "the local engine could not swap the faces",
        )
    return ProviderJob(provider, job_id, state, cost=0)
