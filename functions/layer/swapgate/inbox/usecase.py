"""The inbox use case: a created manifest starts its jobs; the last job to end writes the result.

Trigger side (:class:`Inbox`): read the manifest -> plan every job -> claim the batch record, which
names every job's id (derived from the manifest version and the job's index) -> submit each job
through ``Gateway.submit`` with its id (create-if-absent: a job that exists is never submitted again)
-> started. So each job of a manifest starts exactly once and is recorded before it starts, across
crashes and duplicate events. Notify side (:func:`job_ended`): when a manifest's last job ends, write
``outbox/<name>.result.json`` and mark the batch done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from swapgate import budget, config, keys
from swapgate.errors import NotConfigured, ObjectTooLarge, SwapgateError
from swapgate.gateway import Gateway, SubmitRequest
from swapgate.inbox.batches import (
    BUSY,
    DUPLICATE,
    NEW,
    RESUME,
    STALE,
    STARTED,
    BatchInProgress,
    BatchRecord,
    BatchStore,
    decide,
    object_version,
)
from swapgate.inbox.manifest import (
    MAX_MANIFEST_BYTES,
    ManifestInvalid,
    Problem,
    is_manifest_key,
    parse_manifest,
    too_large,
)
from swapgate.inbox.outbox import Outbox
from swapgate.inbox.planning import plan
from swapgate.jobs import Job, JobStore
from swapgate.storage import Storage

logger = Logger(child=True)

#: a trigger with less time left than this starts no further job: the queue's retry resumes the batch
MIN_SUBMIT_SECONDS = 30


@dataclass
class Outcome:
    """What the trigger did with one S3 object event."""

    key: str
    action: str  # ignored | duplicate | stale | gone | invalid | started
    job_ids: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Inbox:
    gateway: Gateway
    public_url: str | None = None
    clock: Any = time.time

    def __post_init__(self) -> None:
        self.batches = BatchStore.beside(self.gateway.store)
        self.outbox = Outbox(self.gateway.storage)

    @classmethod
    def from_env(cls) -> Inbox:
        return cls(gateway=Gateway.from_env(), public_url=config.env("SWAPGATE_PUBLIC_URL"))

    @property
    def storage(self) -> Storage:
        return self.gateway.storage

    def handle_object(
        self, *, bucket: str, key: str, etag: str | None, sequencer: str | None, size: int | None
    ) -> Outcome:
        """One created object (``etag``, ``sequencer`` and ``size`` as the S3 event gives them, or None).
        Raises (so the SQS record is retried) only for transient trouble."""
        if bucket != self.storage.bucket:
            logger.warning("event for another bucket ignored", extra={"bucket": bucket})
            return Outcome(key, "ignored")
        if not is_manifest_key(key):
            return Outcome(key, "ignored")
        logger.append_keys(manifest_key=key)
        try:
            return self._handle_manifest(key, etag, sequencer, size)
        finally:
            logger.remove_keys(["manifest_key"])

    def _handle_manifest(
        self, key: str, etag: str | None, sequencer: str | None, size: int | None
    ) -> Outcome:
        version, ordered = object_version(etag, sequencer)
        decision = decide(self.batches.get(key), version, ordered, self.clock())
        if decision in (DUPLICATE, STALE):
            logger.info("manifest event skipped", extra={"reason": decision})
            return Outcome(key, decision)
        if decision == BUSY:
            raise BatchInProgress(f"the jobs of {key} are being started")

        try:
            data = self._read(key, etag, size)
            if data is None:
                return Outcome(key, "gone")
            requests = plan(parse_manifest(data), self.gateway)
        except ManifestInvalid as invalid:
            self.outbox.write_error(key, invalid.problems)
            return Outcome(key, "invalid", problems=invalid.problems)
        if not self.public_url:
            raise NotConfigured("set SWAPGATE_PUBLIC_URL: providers call back there")
        for request in requests:
            request.manifest_key = key
        job_ids = [keys.inbox_job_id(key, version, index) for index in range(len(requests))]

        record = self.batches.claim(
            key,
            version,
            ordered=ordered,
            resume=decision == RESUME,
            total=len(requests),
            now=self.clock(),
            job_ids=job_ids,
        )
        if record is None:  # another trigger won the claim
            decision = decide(self.batches.get(key), version, ordered, self.clock())
            if decision in (BUSY, NEW, RESUME):
                raise BatchInProgress(f"the jobs of {key} are being started")
            return Outcome(key, decision)
        if decision == NEW:
            self.outbox.clear(key)
        for index in range(len(record.entries), len(requests)):  # a record of an older trigger
            self.batches.append(record, {"job_id": job_ids[index]})
        for index, request in enumerate(requests):
            self._start(record, index, request)
        self.batches.set_started(record)
        logger.info("manifest jobs started", extra={"jobs": len(record.entries)})
        _complete(key, self.batches, self.gateway.store, self.outbox)
        return Outcome(key, "started", job_ids=record.job_ids)

    def _read(self, key: str, etag: str | None, size: int | None) -> bytes | None:
        if size is not None and int(size) > MAX_MANIFEST_BYTES:
            raise too_large()
        try:
            data = self.storage.read_object(key, etag=etag, max_bytes=MAX_MANIFEST_BYTES)
        except ObjectTooLarge:
            raise too_large() from None
        if data is None:
            logger.info("manifest deleted or replaced since this event; a newer event starts it")
        return data

    def _start(self, record: BatchRecord, index: int, request: SubmitRequest) -> None:
        """Start the job at ``index`` under the id the record names, unless it exists or is known
        not to start; a job that cannot start gets its error recorded."""
        entry = record.entries[index]
        job_id = entry.get("job_id")
        if not job_id or entry.get("error"):
            return
        left = budget.remaining()
        if left is not None and left < MIN_SUBMIT_SECONDS:
            raise BatchInProgress(f"out of time starting the jobs of {record.manifest_key}; resumed later")
        try:
            self.gateway.submit(request, self.public_url or "", job_id=job_id)
        except SwapgateError as exc:
            if (
                getattr(exc, "job", None) is not None
            ):  # the job exists, failed: its notification fills the outbox
                return
            logger.warning("manifest job not started", extra={"error_code": exc.code})
            self.batches.record_error(record, index, {"code": exc.code, "message": exc.message})


# --- the notify side ----------------------------------------------------------------------------


def job_ended(job: Job, store: JobStore, storage: Storage) -> bool:
    """A job of a manifest ended: write the manifest's outbox result when it was the last one.

    Returns whether the result file was written now. Safe to repeat: the file's content depends only
    on the jobs' final states.
    """
    if not job.manifest_key:
        return False
    batches = BatchStore.beside(store)
    record = batches.get(job.manifest_key)
    if record is None:
        logger.warning("job of an unknown manifest", extra={"manifest_key": job.manifest_key})
        return False
    if job.id not in {entry.get("job_id") for entry in record.entries}:
        logger.info("job of a replaced or unfinished manifest run", extra={"manifest_key": job.manifest_key})
        return False
    if record.state != STARTED:  # starting: the trigger checks when it is done; done: written
        return False
    return _complete(job.manifest_key, batches, store, Outbox(storage), record=record)


def complete_if_finished(
    manifest_key: str, store: JobStore, storage: Storage, *, record: BatchRecord | None = None
) -> bool:
    """Write ``outbox/<name>.result.json`` if every job of the manifest has ended."""
    return _complete(manifest_key, BatchStore.beside(store), store, Outbox(storage), record=record)


def _complete(
    manifest_key: str,
    batches: BatchStore,
    jobs: JobStore,
    outbox: Outbox,
    *,
    record: BatchRecord | None = None,
) -> bool:
    if record is None:
        record = batches.get(manifest_key)
    if record is None or record.state != STARTED:
        return False
    found = jobs.get_many(record.job_ids)
    if any(not job.status.terminal for job in found.values()):
        return False
    rows = outbox.write_result(manifest_key, record.entries, found)
    if not batches.mark_done(record):
        logger.info("manifest replaced while its result was written")
    logger.info("manifest result written", extra={"manifest_key": manifest_key, "jobs": rows})
    return True
