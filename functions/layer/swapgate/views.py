"""What a job looks like to a client, in each format Swapgate speaks.

- ``swapgate``: the fields of ``GET /v1/swaps/{id}`` (:func:`job_payload`);
- ``aifaceswap``: aifaceswap.io's callback body, for jobs made on ``/api/aifaceswap/...``;
- ``ttapi``: TTAPI's fetch answer / hookUrl body, for jobs made on ``/insightFace/...``.

The API, the compatibility routes and the client webhooks (``swapgate.delivery``) all render jobs
with these, so an answer and a webhook about the same job say the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from swapgate.jobs import Job, JobStatus

if TYPE_CHECKING:
    from swapgate.storage import Storage


def result_url(job: Job, storage: Storage) -> str | None:
    """A presigned GET of the job's result in our bucket, or None when there is none.

    A job is succeeded from its transition on, and its result is published just after (inline, and
    again by the job-events function): a reader that comes in between publishes it itself (the same
    idempotent copy), so a result URL handed out always names an object."""
    if job.status is not JobStatus.SUCCEEDED or not job.result_key:
        return None
    if job.staged_key and not storage.exists(job.result_key):
        storage.publish_result(job.staged_key, job.result_key)
    return storage.presigned_get(job.result_key)


def job_payload(job: Job, result: str | None) -> dict[str, Any]:
    """Swapgate's own format: the fields of ``GET /v1/swaps/{id}`` (``error`` has the shape of API
    errors: ``code``, ``message``, ``field``)."""
    error = {**job.error, "field": None} if job.error else None
    return {
        "id": job.id,
        "status": str(job.status),
        "provider": job.provider,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "points": job.points,
        "result_url": result,
        "error": error,
        "provenance": job.provenance,
        "data_removed": bool(job.data_removed),
        "expires_at": expires_iso(job),
    }


def expires_iso(job: Job) -> str:
    """When the job's record and stored data expire (its TTL; results/ expire with it)."""
    return datetime.fromtimestamp(job.expires_at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def aifaceswap_payload(job: Job, result: str | None) -> dict[str, Any]:
    """aifaceswap.io's webhook body: ``success`` 1|0, ``type`` 1 (swap) | 2 (multi swap)."""
    return {
        "success": 1 if job.status is JobStatus.SUCCEEDED else 0,
        "type": 2 if job.operation == "multi_swap" else 1,
        "task_id": job.id,
        "result_image": result or "",
    }


#: Swapgate statuses in TTAPI's words (every other status is FAILED)
TTAPI_STATUS = {
    JobStatus.QUEUED: "PENDING_QUEUE",
    JobStatus.RUNNING: "ON_QUEUE",
    JobStatus.SUCCEEDED: "SUCCESS",
}


def ttapi_payload(job: Job, result: str | None) -> dict[str, Any]:
    """A job in the shape of TTAPI's fetch answer and hookUrl callback."""
    return {
        "status": TTAPI_STATUS.get(job.status, "FAILED"),
        "jobId": job.id,
        "message": job.error_message or "",
        "data": {
            "jobId": job.id,
            "cdnImage": result,
            "discordImage": None,
            "quota": job.points or 0,
        },
    }


#: a job's ``webhook_format`` -> how it is rendered
BUILDERS: dict[str, Callable[[Job, str | None], dict[str, Any]]] = {
    "swapgate": job_payload,
    "aifaceswap": aifaceswap_payload,
    "ttapi": ttapi_payload,
}
FORMATS = tuple(BUILDERS)


def webhook_payload(job: Job, storage: Storage) -> dict[str, Any]:
    """The body a job's webhook receives, in the format the client asked for (unknown: Swapgate's)."""
    build = BUILDERS.get(job.webhook_format or "swapgate", job_payload)
    return build(job, result_url(job, storage))
