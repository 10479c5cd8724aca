"""A job's life, written down in one place.

    queued -> running -> succeeded | failed | timed_out | canceled
    queued -> failed | timed_out | canceled

Every status change goes through ``JobStore.transition``, which enforces this table with a DynamoDB
conditional write: of two writers racing (webhook and poller, a duplicate webhook, cancel against a
late result) exactly one wins, and the loser learns the job's current state.

The terminal transition is the one fact everything else follows from: the table's change stream
hands it to the job-events function (``swapgate.job_events``), which publishes the result and queues
the client notification. The store also keeps the webhook delivery record (claim, then ``notified``),
so that a notify message that comes twice never sends a second webhook.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from swapgate import config, keys
from swapgate.errors import JobNotFound
from swapgate.retry import Backoff, call_with_retries

#: the most keys DynamoDB's BatchGetItem takes at once
BATCH_GET_LIMIT = 100
#: tries of one BatchGetItem while DynamoDB leaves keys unprocessed, and the wait between them
BATCH_GET_ATTEMPTS = 8
BATCH_GET_BACKOFF = Backoff(base=0.05, cap=1.0)
#: tries of a job record write (with_write_retries) that DynamoDB throttled or failed, and the wait between
WRITE_ATTEMPTS = 4
WRITE_BACKOFF = Backoff(base=0.1, cap=1.0, jitter=True)
#: DynamoDB error codes worth another try
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)

T = TypeVar("T")


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
    #: where the result waits under staging/ until it is published to ``result_key`` (succeeded jobs)
    staged_key: str | None = None
    #: the provider may have accepted the job but its answer never came: no provider job id is known
    submit_ambiguous: bool | None = None
    #: when the poller times the job out (epoch seconds)
    deadline: int | None = None
    #: what the stored result carries: ``{"digital_source_type": str | None, "c2pa": bool}``
    provenance: dict | None = None
    #: the ``uploads/`` objects Swapgate stored or was handed for this job (purged with it)
    upload_keys: list[str] | None = None
    #: purged by its owner: only this tombstone is left, no data comes back
    data_removed: bool | None = None
    removed_at: str | None = None
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


#: what a purge erases from a job's record: personal data, and every key that leads to it
PURGED_FIELDS = (
    "webhook",
    "result_key",
    "staged_key",
    "upload_keys",
    "manifest_key",
    "provider_job_id",
    "execution_arn",
    "error_message",
    "provenance",
)


class TransitionRejected(Exception):
    """The job was not in a status this transition may start from. ``job`` is its current state."""

    def __init__(self, job: Job, target: JobStatus) -> None:
        super().__init__(f"job {job.id} is {job.status}; cannot become {target}")
        self.job = job
        self.target = target


class UnprocessedReads(RuntimeError):
    """DynamoDB still left some keys of a batch read unprocessed."""


#: what :meth:`JobStore.claim_notification` found
CLAIMED, ALREADY_SENT, CLAIM_HELD = "claimed", "already_sent", "claim_held"


def transient(exc: Exception) -> bool:
    """A DynamoDB throttle or server error, or a connection that failed: worth another try."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in TRANSIENT_CODES
    return isinstance(exc, ConnectionError | ReadTimeoutError)


def with_write_retries(call: Callable[[], T]) -> T:
    """``call()`` (a job record write), tried again while DynamoDB throttles or fails. Only for
    writes whose caller reads a TransitionRejected after its own lost first try correctly."""
    return call_with_retries(call, attempts=WRITE_ATTEMPTS, backoff=WRITE_BACKOFF, retry_on=transient)


class JobStore:
    """Jobs in the DynamoDB table (partition key ``id``)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    @classmethod
    def from_env(cls) -> JobStore:
        import boto3

        return cls(boto3.resource("dynamodb").Table(config.env("SWAPGATE_TABLE")))

    @property
    def _conflict(self) -> type[Exception]:
        return self.table.meta.client.exceptions.ConditionalCheckFailedException

    def create(self, job: Job) -> Job:
        self.table.put_item(Item=job.to_item(), ConditionExpression="attribute_not_exists(id)")
        return job

    def create_if_absent(self, job: Job) -> tuple[Job, bool]:
        """Create the job unless one with its id exists: (the stored job, whether it was made now)."""
        try:
            return self.create(job), True
        except self._conflict:
            return self.get(job.id), False

    def find(self, job_id: str) -> Job | None:
        """The job, or None when there is none."""
        try:
            return self.get(job_id)
        except JobNotFound:
            return None

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
        """Move the job to ``target`` if the table allows it from its current status.

        ``changes`` that are None are left as they are (never erased: a late writer cannot wipe
        what an earlier one recorded)."""
        allowed = sorted(ALLOWED_FROM[target])
        values: dict[str, Any] = {f":from{i}": str(s) for i, s in enumerate(allowed)}
        condition = f"attribute_exists(id) AND attribute_not_exists(data_removed) AND #status IN ({', '.join(values)})"
        try:
            return self._update(job_id, {"status": str(target), **changes}, condition, values)
        except self._conflict:
            raise TransitionRejected(self.get(job_id), target) from None

    def update(self, job_id: str, **changes: Any) -> Job:
        """Change fields other than the status (None values are left as they are)."""
        assert "status" not in changes, "status changes go through transition()"
        return self._update(job_id, changes, "attribute_exists(id)", {})

    def purge(self, job_id: str) -> Job:
        """Leave only a tombstone of the job (status, times, owner, TTL) with ``data_removed``. Idempotent."""
        now = now_iso()
        response = self.table.update_item(
            Key=keys.item_key(job_id),
            UpdateExpression="SET data_removed = :yes, removed_at = if_not_exists(removed_at, :now), "
            "updated_at = :now REMOVE " + ", ".join(PURGED_FIELDS),
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues={":yes": True, ":now": now},
            ReturnValues="ALL_NEW",
        )
        return Job.from_item(response["Attributes"])

    def _update(self, job_id: str, changes: dict[str, Any], condition: str, values: dict[str, Any]) -> Job:
        changes = {k: v for k, v in changes.items() if v is not None} | {"updated_at": now_iso()}
        names = {f"#{k}": k for k in changes}
        if "#status" in condition:
            names["#status"] = "status"
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in changes)
        values = values | {f":{k}": v for k, v in changes.items()}
        response = self.table.update_item(
            Key=keys.item_key(job_id),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return Job.from_item(response["Attributes"])

    # --- the client webhook's delivery record ---------------------------------------------------
    # Kept on the job item, without touching updated_at (the webhook body shows the job's own
    # fields). These writes leave the status alone, so the change stream's filter drops them.

    def claim_notification(self, job_id: str, message_id: str, token: str, *, now: float, lease: int) -> str:
        """Take the right to deliver ``message_id`` for ``lease`` seconds: CLAIMED; ALREADY_SENT when
        it was delivered; CLAIM_HELD while another delivery's claim is live. JobNotFound when the job
        is gone."""
        try:
            self.table.update_item(
                Key=keys.item_key(job_id),
                UpdateExpression="SET notify_claim = :token, notify_claim_until = :until",
                ConditionExpression=(
                    "attribute_exists(id) AND (attribute_not_exists(notified) OR notified <> :msg)"
                    " AND (attribute_not_exists(notify_claim_until) OR notify_claim_until < :now)"
                ),
                ExpressionAttributeValues={
                    ":token": token,
                    ":until": int(now) + lease,
                    ":msg": message_id,
                    ":now": int(now),
                },
            )
            return CLAIMED
        except self._conflict:
            item = self.table.get_item(Key=keys.item_key(job_id), ConsistentRead=True).get("Item")
            if not keys.is_job_item(item):
                raise JobNotFound(job_id) from None
            return ALREADY_SENT if item.get("notified") == message_id else CLAIM_HELD

    def record_notified(self, job_id: str, message_id: str) -> None:
        """``message_id`` was delivered (a 2xx): no later try sends it again."""
        self.table.update_item(
            Key=keys.item_key(job_id),
            UpdateExpression="SET notified = :msg REMOVE notify_claim, notify_claim_until",
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues={":msg": message_id},
        )

    def release_notification(self, job_id: str, token: str) -> None:
        """Give up our claim (the delivery failed), so the next try need not wait for the lease."""
        # a failed condition: our lease ran out and another delivery holds the claim now
        with contextlib.suppress(self._conflict):
            self.table.update_item(
                Key=keys.item_key(job_id),
                UpdateExpression="REMOVE notify_claim, notify_claim_until",
                ConditionExpression="notify_claim = :token",
                ExpressionAttributeValues={":token": token},
            )
