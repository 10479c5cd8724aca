"""What a manifest's sender reads back under ``outbox/``.

``outbox/<name>.error.json``: the manifest was rejected (each problem with its job index, field and
message); nothing started. ``outbox/<name>.result.json``: every job has ended (each job's id, status,
result key and error, in manifest order). ``<name>`` is the manifest's key below ``inbox/`` without
``.json``: ``inbox/a/b.json`` -> ``outbox/a/b``.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from swapgate.inbox.manifest import Problem, outbox_key
from swapgate.jobs import Job
from swapgate.storage import Storage

logger = Logger(child=True)


class Outbox:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def write_error(self, manifest_key: str, problems: list[Problem]) -> None:
        body = {"manifest": manifest_key, "errors": [p.to_dict() for p in problems]}
        self.storage.put_json(outbox_key(manifest_key, "error"), json.dumps(body, indent=2))
        logger.info("manifest rejected", extra={"problems": len(problems)})

    def clear(self, manifest_key: str) -> None:
        """A new version of a manifest starts afresh: outbox files of the previous one go."""
        for kind in ("error", "result"):
            try:
                self.storage.delete(outbox_key(manifest_key, kind))
            except Exception:
                logger.warning("could not remove an old outbox file", extra={"kind": kind})

    def write_result(self, manifest_key: str, entries: list[dict], jobs: dict[str, Job]) -> int:
        """Write the result file from the batch's entries and their (ended) jobs; returns its row count."""
        result = result_document(manifest_key, entries, jobs)
        self.storage.put_json(outbox_key(manifest_key, "result"), json.dumps(result, indent=2))
        return result["total"]


def result_document(manifest_key: str, entries: list[dict], jobs: dict[str, Job]) -> dict[str, Any]:
    """The result file's content: it depends only on the jobs' final states (safe to write twice)."""
    rows = [_result_row(index, entry, jobs) for index, entry in enumerate(entries)]
    finished = max((row.pop("updated_at") or "" for row in rows), default="")
    return {
        "manifest": manifest_key,
        "total": len(rows),
        "succeeded": sum(1 for row in rows if row["status"] == "succeeded"),
        "finished_at": finished or None,
        "jobs": rows,
    }


def _result_row(index: int, entry: dict, jobs: dict[str, Job]) -> dict[str, Any]:
    job_id = entry.get("job_id")
    job = jobs.get(job_id) if job_id else None
    if job is None:
        if entry.get("error"):  # never started (the id was only intended)
            error, job_id = dict(entry["error"]), None
        elif job_id:
            error = {"code": "not_found", "message": "the job record is gone"}
        else:
            error = {"code": "not_started", "message": "the job was not started"}
        return {
            "index": index,
            "id": job_id,
            "status": "failed",
            "provider": None,
            "result_key": None,
            "error": error,
            "updated_at": None,
        }
    return {
        "index": index,
        "id": job.id,
        "status": str(job.status),
        "provider": job.provider,
        "result_key": job.result_key,
        "error": job.error,
        "updated_at": job.updated_at,
    }
