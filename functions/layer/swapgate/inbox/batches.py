"""The batch record of a manifest: its rules, and its storage in the jobs table.

One item ``manifest#<key>`` per manifest key (``swapgate.keys``), for the manifest's latest version:

    starting (a trigger holds a lease and records each job it starts) -> started -> done

Duplicate S3 events never start a batch twice: the record is claimed with a conditional write keyed
by the object's version (the event's ``sequencer``, else its ETag), and the claim writes the id of
every job it will start (``swapgate.keys.inbox_job_id``) before any starts. A trigger that dies
half-way leaves a ``starting`` record whose lease expires; the queue's retry then resumes with the
same ids, and submit's create-if-absent skips every job that already exists. As in Powertools' idempotency (a record with its status rules, and a persistence layer
beside it), :func:`decide` says what an event means for a record and :class:`BatchStore` makes every
DynamoDB call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from swapgate import keys
from swapgate.errors import BatchInProgress
from swapgate.jobs import JobStore, now_iso

#: how long a trigger owns a batch it is starting (longer than the trigger function's timeout)
LEASE_SECONDS = 900

STARTING, STARTED, DONE = "starting", "started", "done"

#: what an event means for the stored record (see :func:`decide`)
NEW, RESUME, BUSY, DUPLICATE, STALE = "new", "resume", "busy", "duplicate", "stale"


# --- the record and its rules -------------------------------------------------------------------


@dataclass
class BatchRecord:
    manifest_key: str
    version: str  # see object_version
    state: str = STARTING
    claim: str | None = None  # the token of the trigger holding the lease
    lease_until: int = 0
    total: int = 0
    #: one per job, in manifest order: {"job_id": ...}, written before any job starts; a job that
    #: could not be started also has {"error": {"code", "message"}} (records of older triggers may hold
    #: an error alone, and only the jobs started so far)
    entries: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""
    expires_at: int = 0

    @property
    def job_ids(self) -> list[str]:
        return [entry["job_id"] for entry in self.entries if entry.get("job_id")]

    def to_item(self) -> dict[str, Any]:
        return {
            "id": keys.manifest_record_id(self.manifest_key),
            "kind": "manifest",
            "manifest_key": self.manifest_key,
            "version": self.version,
            "state": self.state,
            "claim": self.claim,
            "lease_until": self.lease_until,
            "total": self.total,
            "entries": self.entries,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> BatchRecord:
        def number(name: str) -> int:  # DynamoDB gives numbers as Decimal
            return int(item.get(name) or 0)

        record_id = str(item.get("id", ""))
        return cls(
            manifest_key=item.get("manifest_key") or record_id.removeprefix(keys.MANIFEST_PREFIX),
            version=item.get("version", ""),
            state=item.get("state", ""),
            claim=item.get("claim"),
            lease_until=number("lease_until"),
            total=number("total"),
            entries=list(item.get("entries") or []),
            created_at=item.get("created_at", ""),
            updated_at=item.get("updated_at", ""),
            expires_at=number("expires_at"),
        )


def object_version(etag: str | None, sequencer: str | None) -> tuple[str, bool]:
    """The version token of an S3 object event, and whether tokens of this kind are ordered.

    S3's ``sequencer`` grows with each write of a key (compared after right-padding with zeros);
    the ETag (moto's events carry no sequencer) only tells contents apart.
    """
    if sequencer:
        return "s:" + sequencer.upper().ljust(64, "0"), True
    return "e:" + (etag or "").strip('"'), False


def decide(record: BatchRecord | None, version: str, ordered: bool, now: float) -> str:
    """What to do with an event for ``version`` given the stored record:
    ``new``, ``resume``, ``busy`` (another trigger holds the lease), ``duplicate`` or ``stale``."""
    if record is None:
        return NEW
    if record.version == version:
        if record.state != STARTING:
            return DUPLICATE
        return RESUME if record.lease_until < now else BUSY
    if ordered and record.version.startswith("s:") and record.version > version:
        return STALE
    return NEW


# --- the storage --------------------------------------------------------------------------------


class BatchStore:
    """Batch records in the jobs table. Writes are conditional: on the version for a claim or the
    final ``done``, on the claim token for everything the lease holder records."""

    def __init__(self, table: Any) -> None:
        self.table = table

    @classmethod
    def beside(cls, jobs: JobStore) -> BatchStore:
        """The batch records kept in the same table as ``jobs``."""
        return cls(jobs.table)

    @property
    def _conflict(self) -> type[Exception]:
        return self.table.meta.client.exceptions.ConditionalCheckFailedException

    def get(self, manifest_key: str) -> BatchRecord | None:
        key = keys.item_key(keys.manifest_record_id(manifest_key))
        item = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
        return None if item is None else BatchRecord.from_item(item)

    def claim(
        self,
        manifest_key: str,
        version: str,
        *,
        ordered: bool,
        resume: bool,
        total: int,
        now: float,
        job_ids: list[str] | None = None,
    ) -> BatchRecord | None:
        """Take the lease on the batch for ``version`` with a new claim token: a fresh record (unless
        the stored one is as new or newer) holding an entry per id of ``job_ids``, or, with
        ``resume``, the stored ``starting`` record whose lease ran out. None when another trigger won."""
        token, now = uuid.uuid4().hex, int(now)
        try:
            if resume:
                answer = self.table.update_item(
                    Key=keys.item_key(keys.manifest_record_id(manifest_key)),
                    UpdateExpression="SET #claim = :token, lease_until = :until, updated_at = :now_iso",
                    ConditionExpression="#version = :version AND #state = :starting AND lease_until < :now",
                    ExpressionAttributeNames={"#claim": "claim", "#version": "version", "#state": "state"},
                    ExpressionAttributeValues={
                        ":token": token,
                        ":until": now + LEASE_SECONDS,
                        ":now_iso": now_iso(),
                        ":version": version,
                        ":starting": STARTING,
                        ":now": now,
                    },
                    ReturnValues="ALL_NEW",
                )
                return BatchRecord.from_item(answer["Attributes"])
            record = BatchRecord(
                manifest_key,
                version,
                state=STARTING,
                claim=token,
                lease_until=now + LEASE_SECONDS,
                total=total,
                entries=[{"job_id": job_id} for job_id in job_ids or ()],
                created_at=now_iso(),
                updated_at=now_iso(),
                expires_at=keys.expires_at(),
            )
            replaces = "#version < :version" if ordered else "#version <> :version"
            self.table.put_item(
                Item=record.to_item(),
                ConditionExpression=f"attribute_not_exists(id) OR {replaces}",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":version": version},
            )
            return record
        except self._conflict:
            return None

    def append(self, record: BatchRecord, entry: dict[str, Any]) -> None:
        """Add an entry at the end (also on ``record``). Raises BatchInProgress if the claim is lost."""
        self._owned_update(record, "SET entries = list_append(entries, :entry)", {":entry": [entry]})
        record.entries.append(entry)

    def record_error(self, record: BatchRecord, index: int, error: dict[str, str]) -> None:
        """The job at ``index`` could not be started (also on ``record``). Raises BatchInProgress if
        the claim is lost."""
        self._owned_update(record, f"SET entries[{int(index)}].#error = :error", {":error": error})
        record.entries[index] = {**record.entries[index], "error": error}

    def set_started(self, record: BatchRecord) -> None:
        """Every job is started: the lease ends. Raises BatchInProgress if the claim is lost."""
        self._owned_update(record, "SET #state = :started REMOVE lease_until", {":started": STARTED})
        record.state = STARTED

    def mark_done(self, record: BatchRecord) -> bool:
        """The outbox result is written. False when a newer version replaced the record meanwhile."""
        try:
            self.table.update_item(
                Key=keys.item_key(keys.manifest_record_id(record.manifest_key)),
                UpdateExpression="SET #state = :done, updated_at = :now",
                ConditionExpression="#version = :version",
                ExpressionAttributeNames={"#state": "state", "#version": "version"},
                ExpressionAttributeValues={":done": DONE, ":now": now_iso(), ":version": record.version},
            )
        except self._conflict:
            return False
        record.state = DONE
        return True

    def _owned_update(self, record: BatchRecord, expression: str, values: dict[str, Any]) -> None:
        names = {"#claim": "claim"}
        for name in ("state", "error"):
            if f"#{name}" in expression:
                names[f"#{name}"] = name
        try:
            self.table.update_item(
                Key=keys.item_key(keys.manifest_record_id(record.manifest_key)),
                UpdateExpression=expression,
                ConditionExpression="#claim = :token",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":token": record.claim, **values},
            )
        except self._conflict:
            # our lease ran out and another trigger took the batch over (or a new version replaced it)
            raise BatchInProgress(f"lost the claim on {record.manifest_key}") from None
