"""A job's life, written down in one place.

    queued -> running -> succeeded | failed | timed_out | canceled
    queued -> failed | timed_out | canceled

Every status change goes through ``JobStore.transition``, which enforces this table with a DynamoDB
conditional write: of two writers racing (webhook and poller, a duplicate webhook, cancel against a
late result) exactly one wins, and the loser learns the job's current state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from swapgate import config, keys
from swapgate.errors import JobNotFound
from swapgate.retry import Backoff, call_with_retries

#: the most keys DynamoDB's BatchGetItem takes at once
BATCH_GET_LIMIT = 100
#: tries of one BatchGetItem while DynamoDB leaves keys unprocessed, and the wait between them
BATCH_GET_ATTEMPTS = 8
BATCH_GET_BACKOFF = Backoff(base=0.05, cap=1.0)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELED})

#: the statuses a job may move to each status from
ALLOWED_FROM: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.RUNNING: frozenset({JobStatus.QUEUED}),
    JobStatus.SUCCEEDED: frozenset({JobStatus.RUNNING}),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
    JobStatus.TIMED_OUT: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
    JobStatus.CANCELED: frozenset({JobStatus.QUEUED, JobStatus.RUNNING}),
}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Job:
    id: str
    provider: str
    operation: str  # "swap" | "multi_swap"
    status: JobStatus = JobStatus.QUEUED
    created_at: str = field(default_factory=now_iso)
    updated_at: str = ""
    provider_job_id: str | None = None
    points: int | None = None
    result_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    webhook: str | None = None
    #: the callback format the client asked for: "swapgate", or a provider's own on compatibility routes
    webhook_format: str = "swapgate"
    execution_arn: str | None = None
    origin: str = "api"  # "api" | "inbox"
    manifest_key: str | None = None
    #: a digest of the API key that created the job: other keys cannot see it
    owner: str | None = None
    expires_at: int = 0

    def __post_init__(self) -> None:
        self.status = JobStatus(self.status)
        self.updated_at = self.updated_at or self.created_at
        if not self.expires_at:
            self.expires_at = keys.expires_at()

    @property
    def error(self) -> dict | None:
        if self.error_code is None:
            return None
        return {"code": self.error_code, "message": self.error_message or ""}

    def to_item(self) -> dict[str, Any]:
        item = {k: v for k, v in asdict(self).items() if v is not None}
        item["status"] = str(self.status)
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Job:
        known = {f.name for f in fields(cls)}
        values = {k: (int(v) if isinstance(v, Decimal) else v) for k, v in item.items() if k in known}
        return cls(**values)


class TransitionRejected(Exception):
    """The job was not in a status this transition may start from. ``job`` is its current state."""

    def __init__(self, job: Job, target: JobStatus) -> None:
        super().__init__(f"job {job.id} is {job.status}; cannot become {target}")
        self.job = job
        self.target = target


class UnprocessedReads(RuntimeError):
    """DynamoDB still left some keys of a batch read unprocessed."""


class JobStore:
    """Jobs in the DynamoDB table (partition key ``id``)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    @classmethod
    def from_env(cls) -> JobStore:
        import boto3

        return cls(boto3.resource("dynamodb").Table(config.env("SWAPGATE_TABLE")))

    def create(self, job: Job) -> Job:
        self.table.put_item(Item=job.to_item(), ConditionExpression="attribute_not_exists(id)")
        return job

    def get(self, job_id: str) -> Job:
        item = self.table.get_item(Key=keys.item_key(job_id), ConsistentRead=True).get("Item")
        if not keys.is_job_item(item):
            raise JobNotFound(job_id)
        return Job.from_item(item)

    def get_many(self, job_ids: list[str]) -> dict[str, Job]:
        """The jobs named, by id, read consistently (missing ones and non-job items are left out).

        Keys DynamoDB leaves unprocessed are asked for again with backoff; UnprocessedReads when
        some are still left after the last try.
        """
        found: dict[str, Job] = {}
        unique = list(dict.fromkeys(job_ids))
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            self._read_batch(unique[start : start + BATCH_GET_LIMIT], found)
        return found

    def _read_batch(self, job_ids: list[str], found: dict[str, Job]) -> None:
        name = self.table.name
        pending = {name: {"Keys": [keys.item_key(i) for i in job_ids], "ConsistentRead": True}}

        def read() -> None:
            nonlocal pending
            # the resource's own client: it takes and gives plain Python values
            answer = self.table.meta.client.batch_get_item(RequestItems=pending)
            for item in answer.get("Responses", {}).get(name, []):
                if keys.is_job_item(item):
                    found[item["id"]] = Job.from_item(item)
            pending = answer.get("UnprocessedKeys") or {}
            if pending:
                raise UnprocessedReads("DynamoDB left job reads unprocessed")

        call_with_retries(
            read,
            attempts=BATCH_GET_ATTEMPTS,
            backoff=BATCH_GET_BACKOFF,
            retry_on=lambda exc: isinstance(exc, UnprocessedReads),
        )

    def transition(self, job_id: str, target: JobStatus, **changes: Any) -> Job:
        """Move the job to ``target`` if the table allows it from its current status."""
        allowed = sorted(ALLOWED_FROM[target])
        values: dict[str, Any] = {f":from{i}": str(s) for i, s in enumerate(allowed)}
        condition = f"attribute_exists(id) AND #status IN ({', '.join(values)})"
        try:
            return self._update(job_id, {"status": str(target), **changes}, condition, values)
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            raise TransitionRejected(self.get(job_id), target) from None

    def update(self, job_id: str, **changes: Any) -> Job:
        """Change fields other than the status."""
        assert "status" not in changes, "status changes go through transition()"
        return self._update(job_id, changes, "attribute_exists(id)", {})

    def _update(self, job_id: str, changes: dict[str, Any], condition: str, values: dict[str, Any]) -> Job:
        changes = {**changes, "updated_at": now_iso()}
        names = {f"#{k}": k for k in changes}
        if "#status" in condition:
            names["#status"] = "status"
        sets = [f"#{k} = :{k}" for k, v in changes.items() if v is not None]
        removes = [f"#{k}" for k, v in changes.items() if v is None]
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        values = values | {f":{k}": v for k, v in changes.items() if v is not None}
        response = self.table.update_item(
            Key=keys.item_key(job_id),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return Job.from_item(response["Attributes"])
