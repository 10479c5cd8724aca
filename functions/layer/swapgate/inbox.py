"""The S3 inbox: a JSON manifest dropped under ``inbox/`` starts jobs; ``outbox/`` says how they ended.

Objects created under ``inbox/`` reach the trigger function as S3 event notifications through an SQS
queue. Keys ending in ``.json`` are manifests; every other object (the images a manifest names) is
ignored. A manifest is one job or a batch::

    {"source_image": IMAGE, "face_image": IMAGE, "provider"?: NAME, "webhook"?: URL}
    {"source_image": IMAGE, "face_images": [IMAGE, ...], "indexes": [INT, ...], "provider"?, "webhook"?}
    {"jobs": [JOB, JOB, ...]}

where IMAGE is a key in the bucket (``inbox/photos/a.jpg``, ``uploads/x.png``), an https URL, or an
``upload://`` reference. The whole manifest is checked before any job starts; a bad one produces
``outbox/<name>.error.json`` (each problem with its job index, field and message) and nothing else.
A good one starts its jobs through ``Gateway.submit`` (origin ``inbox``) and is recorded as an item
``manifest#<key>`` in the jobs table; when its last job ends, the notify function writes
``outbox/<name>.result.json`` (each job's id, status, result key and error, in manifest order).
``<name>`` is the manifest's key below ``inbox/`` without ``.json``: ``inbox/a/b.json`` -> ``outbox/a/b``.

Duplicate S3 events never start a batch twice: the record is claimed with a conditional write keyed
by the object's version (the event's ``sequencer``, else its ETag). A trigger that dies half-way
leaves a ``starting`` record whose lease expires; the queue's retry then resumes after the last job
it recorded.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swapgate import config
from swapgate.errors import InvalidRequest, SwapgateError, field_problem
from swapgate.gateway import Gateway, ImageSource, SubmitRequest
from swapgate.jobs import Job, JobStore, now_iso
from swapgate.keys import DEFAULT_RETENTION_DAYS
from swapgate.netsafety import check_url
from swapgate.providers.base import Operation, check_indexes
from swapgate.storage import UPLOAD_REFERENCE_PREFIX, Storage

logger = Logger(child=True)

INBOX_PREFIX = "inbox/"
OUTBOX_PREFIX = "outbox/"
RECORD_PREFIX = "manifest#"
MAX_MANIFEST_BYTES = 256 * 1024
MAX_JOBS = 100
MAX_FACES = 10
#: how long a trigger owns a batch it is starting (longer than the trigger function's timeout)
LEASE_SECONDS = 900

STARTING, STARTED, DONE = "starting", "started", "done"


def is_manifest_key(key: str) -> bool:
    return key.startswith(INBOX_PREFIX) and key.lower().endswith(".json") and len(key) > len(INBOX_PREFIX) + 5


def outbox_key(manifest_key: str, kind: str) -> str:
    """``inbox/a/b.json`` -> ``outbox/a/b.<kind>.json`` (kind: ``result`` or ``error``)."""
    name = manifest_key[len(INBOX_PREFIX) :] if manifest_key.startswith(INBOX_PREFIX) else manifest_key
    if name.lower().endswith(".json"):
        name = name[: -len(".json")]
    return f"{OUTBOX_PREFIX}{name}.{kind}.json"


def record_id(manifest_key: str) -> str:
    return RECORD_PREFIX + manifest_key


# --- manifest problems --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest. ``job`` is the job's index (None: the manifest as a whole)."""

    message: str
    field: str | None = None
    job: int | None = None
    code: str = "invalid_request"

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "field": self.field, "code": self.code, "message": self.message}


class ManifestInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the manifest")
        self.problems = problems


class BatchInProgress(SwapgateError):
    """Another trigger is starting this manifest's jobs right now; the event is tried again later."""

    code = "batch_in_progress"
    status = 409
    retryable = True


class NotConfigured(SwapgateError):
    code = "not_configured"
    status = 503


# --- manifest shape -----------------------------------------------------------------------------


class ManifestJob(BaseModel):
    """One job of a manifest, as written (shape only; images and provider are checked later)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    source_image: str = Field(min_length=1, max_length=2048)
    face_image: str | None = Field(default=None, min_length=1, max_length=2048)
    face_images: list[str] | None = Field(default=None, min_length=1, max_length=MAX_FACES)
    indexes: list[int] | None = Field(default=None, min_length=1, max_length=MAX_FACES)
    provider: str | None = Field(default=None, max_length=40)
    webhook: str | None = Field(default=None, max_length=2048)

    @property
    def operation(self) -> Operation:
        return Operation.MULTI_SWAP if self.face_images is not None else Operation.SWAP


def _field_path(prefix: str, loc: tuple[Any, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _shape_problems(error: ValidationError, prefix: str, index: int) -> list[Problem]:
    problems = []
    for item in error.errors():
        name = _field_path(prefix, tuple(item.get("loc", ())))
        message = field_problem(item.get("type", ""), name, item.get("msg", ""))
        problems.append(Problem(message, field=name or None, job=index))
    return problems


def _pairing_problems(job: ManifestJob, prefix: str, index: int) -> list[Problem]:
    if job.face_image is None and job.face_images is None:
        return [Problem(f"{prefix}face_image is required", field=f"{prefix}face_image", job=index)]
    if job.face_image is not None and job.face_images is not None:
        return [
            Problem(
                f"give {prefix}face_image (one swap) or {prefix}face_images (multi swap), not both",
                field=f"{prefix}face_images",
                job=index,
            )
        ]
    if job.face_images is not None and job.indexes is None:
        return [Problem(f"{prefix}indexes is required with face_images", field=f"{prefix}indexes", job=index)]
    if job.face_images is None and job.indexes is not None:
        return [Problem(f"{prefix}indexes goes with face_images only", field=f"{prefix}indexes", job=index)]
    return []


@dataclass
class Manifest:
    #: the jobs in manifest order; None where a job's shape is wrong (see ``problems``)
    jobs: list[ManifestJob | None]
    batch: bool  # written as {"jobs": [...]}: fields are named jobs[i].<name>
    problems: list[Problem] = field(default_factory=list)


def parse_manifest(data: bytes) -> Manifest:
    """The jobs of a manifest, in order, with the shape problems of each job.

    Raises ManifestInvalid when the document as a whole is unusable (not JSON, not an object, no
    list of jobs).
    """
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ManifestInvalid([Problem("the manifest is not UTF-8 text", code="invalid_json")]) from None
    except json.JSONDecodeError as exc:
        message = f"the manifest is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise ManifestInvalid([Problem(message, code="invalid_json")]) from None
    if not isinstance(document, dict):
        raise ManifestInvalid([Problem("the manifest must be a JSON object")])
    if "jobs" in document:
        extra = sorted(set(document) - {"jobs"})
        if extra:
            raise ManifestInvalid(
                [Problem(f"{name} is not an accepted field next to jobs", field=name) for name in extra]
            )
        entries = document["jobs"]
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_JOBS:
            raise ManifestInvalid([Problem(f"jobs must be a list of 1 to {MAX_JOBS} jobs", field="jobs")])
        prefixes = [f"jobs[{i}]." for i in range(len(entries))]
    else:
        entries, prefixes = [document], [""]

    jobs: list[ManifestJob | None] = []
    problems: list[Problem] = []
    for index, (entry, prefix) in enumerate(zip(entries, prefixes, strict=True)):
        job = None
        if not isinstance(entry, dict):
            problems.append(
                Problem(f"{prefix.rstrip('.')} must be a JSON object", field=prefix[:-1], job=index)
            )
        else:
            try:
                job = ManifestJob.model_validate(entry)
            except ValidationError as exc:
                problems.extend(_shape_problems(exc, prefix.rstrip("."), index))
            else:
                pairing = _pairing_problems(job, prefix, index)
                if pairing:
                    problems.extend(pairing)
                    job = None
        jobs.append(job)
    return Manifest(jobs, batch=prefixes[0] != "", problems=problems)


# --- the batch record ---------------------------------------------------------------------------


def object_version(etag: str | None, sequencer: str | None) -> tuple[str, bool]:
    """The version token of an S3 object event, and whether tokens of this kind are ordered.

    S3's ``sequencer`` grows with each write of a key (compared after right-padding with zeros);
    the ETag (moto's events carry no sequencer) only tells contents apart.
    """
    if sequencer:
        return "s:" + sequencer.upper().ljust(64, "0"), True
    return "e:" + (etag or "").strip('"'), False


def _expires_at() -> int:
    days = int(config.env("SWAPGATE_RETENTION_DAYS") or DEFAULT_RETENTION_DAYS)
    return int(time.time()) + days * 86400


def _decide(record: dict | None, version: str, ordered: bool, now: float) -> str:
    """What to do with an event for ``version`` given the stored record:
    ``new``, ``resume``, ``busy`` (another trigger holds the lease), ``duplicate`` or ``stale``."""
    if record is None:
        return "new"
    stored = record.get("version", "")
    if stored == version:
        if record.get("state") != STARTING:
            return "duplicate"
        return "resume" if int(record.get("lease_until", 0)) < now else "busy"
    if ordered and stored.startswith("s:") and stored > version:
        return "stale"
    return "new"


# --- the trigger side ---------------------------------------------------------------------------


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

    @classmethod
    def from_env(cls) -> Inbox:
        return cls(gateway=Gateway.from_env(), public_url=config.env("SWAPGATE_PUBLIC_URL"))

    @property
    def storage(self) -> Storage:
        return self.gateway.storage

    @property
    def table(self) -> Any:
        return self.gateway.store.table

    # --- events -----------------------------------------------------------------------------

    def handle_message(self, body: str) -> list[Outcome]:
        """One SQS message body: an S3 event (``Records``) or an ``s3:TestEvent`` (ignored)."""
        try:
            event = json.loads(body)
        except ValueError:
            logger.error("inbox message is not JSON; dropped")
            return []
        if not isinstance(event, dict):
            return []
        if event.get("Event") == "s3:TestEvent":
            logger.info("S3 test event ignored")
            return []
        outcomes = []
        for record in event.get("Records") or []:
            if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith(
                "ObjectCreated"
            ):
                continue
            s3 = record.get("s3") or {}
            obj = s3.get("object") or {}
            outcomes.append(
                self.handle_object(
                    bucket=(s3.get("bucket") or {}).get("name", ""),
                    key=unquote_plus(obj.get("key", "")),
                    etag=obj.get("eTag"),
                    sequencer=obj.get("sequencer"),
                    size=obj.get("size"),
                )
            )
        return outcomes

    def handle_object(
        self,
        *,
        bucket: str,
        key: str,
        etag: str | None = None,
        sequencer: str | None = None,
        size: int | None = None,
    ) -> Outcome:
        """One created object. Raises (so the SQS record is retried) only for transient trouble."""
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
        decision = _decide(self._get_record(key), version, ordered, self.clock())
        if decision in ("duplicate", "stale"):
            logger.info("manifest event skipped", extra={"reason": decision})
            return Outcome(key, decision)
        if decision == "busy":
            raise BatchInProgress(f"the jobs of {key} are being started")

        try:
            data = self._read(key, etag, size)
            if data is None:
                return Outcome(key, "gone")
            requests = self.plan(parse_manifest(data))
        except ManifestInvalid as invalid:
            self._write_error(key, invalid.problems)
            return Outcome(key, "invalid", problems=invalid.problems)
        if not self.public_url:
            raise NotConfigured("set SWAPGATE_PUBLIC_URL: providers call back there")
        for request in requests:
            request.manifest_key = key

        token = uuid.uuid4().hex
        record = self._claim(key, version, ordered, decision, token, len(requests))
        if record is None:  # another trigger won the claim
            decision = _decide(self._get_record(key), version, ordered, self.clock())
            if decision in ("busy", "new", "resume"):
                raise BatchInProgress(f"the jobs of {key} are being started")
            return Outcome(key, decision)
        if decision == "new":
            self._clear_outbox(key)
        entries = list(record.get("entries") or [])
        for index in range(len(entries), len(requests)):
            entry = self._submit(requests[index])
            self._append(key, token, entry)
            entries.append(entry)
        self._set_started(key, token)
        logger.info("manifest jobs started", extra={"jobs": len(entries)})
        complete_if_finished(key, self.gateway.store, self.storage)
        return Outcome(key, "started", job_ids=[e["job_id"] for e in entries if e.get("job_id")])

    # --- reading and checking -----------------------------------------------------------------

    def _read(self, key: str, etag: str | None, size: int | None) -> bytes | None:
        if size is not None and int(size) > MAX_MANIFEST_BYTES:
            raise _too_large()
        arguments: dict[str, Any] = {"Bucket": self.storage.bucket, "Key": key}
        if etag:
            arguments["IfMatch"] = f'"{etag.strip(chr(34))}"'
        s3 = self.storage.s3
        try:
            response = s3.get_object(**arguments)
        except s3.exceptions.NoSuchKey:
            logger.info("manifest deleted before it was read")
            return None
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                logger.info("manifest replaced since this event; the newer event starts it")
                return None
            raise
        with response["Body"] as body:
            data = body.read(MAX_MANIFEST_BYTES + 1)
        if len(data) > MAX_MANIFEST_BYTES:
            raise _too_large()
        return data

    def plan(self, manifest: Manifest) -> list[SubmitRequest]:
        """Check everything a job needs (provider, images, webhook) and build its submit request.
        Raises ManifestInvalid listing every problem (in job order); touches nothing."""
        requests, problems = [], []
        for index, job in enumerate(manifest.jobs):
            problems.extend(p for p in manifest.problems if p.job == index)
            if job is None:
                continue
            prefix = f"jobs[{index}]." if manifest.batch else ""
            found: list[Problem] = []
            request = self._plan_job(job, prefix, index, found)
            problems.extend(found)
            if request is not None:
                requests.append(request)
        if problems:
            raise ManifestInvalid(problems)
        return requests

    def _plan_job(
        self, job: ManifestJob, prefix: str, index: int, found: list[Problem]
    ) -> SubmitRequest | None:
        def problem(exc: SwapgateError, name: str) -> None:
            found.append(Problem(exc.message, field=name, job=index, code=exc.code))

        operation = job.operation
        try:
            provider = self.gateway.provider_for(job.provider, operation).name
        except SwapgateError as exc:
            problem(exc, f"{prefix}provider")
            provider = None
        if job.webhook is not None:
            try:
                check_url(job.webhook, f"{prefix}webhook")
            except SwapgateError as exc:
                problem(exc, f"{prefix}webhook")
        if job.indexes is not None:
            try:
                check_indexes(job.indexes, len(job.face_images or ()))
            except SwapgateError as exc:
                problem(exc, f"{prefix}indexes")
        source = self._image(job.source_image, f"{prefix}source_image", problem)
        names = (
            [(job.face_image, f"{prefix}face_image")]
            if job.face_image is not None
            else [(face, f"{prefix}face_images[{i}]") for i, face in enumerate(job.face_images or ())]
        )
        faces = [self._image(value, name, problem) for value, name in names]
        if found or source is None or any(face is None for face in faces):
            return None
        return SubmitRequest(
            operation=operation,
            source=source,
            faces=[face for face in faces if face is not None],
            indexes=list(job.indexes or ()),
            provider=provider,
            webhook=job.webhook,
            origin="inbox",
        )

    def _image(self, value: str, name: str, problem: Any) -> ImageSource | None:
        try:
            if value.startswith(UPLOAD_REFERENCE_PREFIX):
                self.storage.upload_key_for_reference(value, name)
                return ImageSource(field=name, url=value)
            if "://" in value:
                return ImageSource(field=name, url=check_url(value, name))
            if value.startswith("/") or value.startswith(OUTBOX_PREFIX):
                raise InvalidRequest(
                    f"{name} must be a key in the bucket (no leading /, not under outbox/) or an https URL",
                    field=name,
                )
            self.storage.require_image_object(value, name)
            return ImageSource(field=name, key=value)
        except SwapgateError as exc:
            problem(exc, name)
            return None

    # --- starting -----------------------------------------------------------------------------

    def _submit(self, request: SubmitRequest) -> dict[str, Any]:
        try:
            job = self.gateway.submit(request, self.public_url or "")
        except SwapgateError as exc:
            failed = getattr(exc, "job", None)
            if failed is not None:  # the job exists and is failed; its notification fills the outbox
                return {"job_id": failed.id}
            logger.warning("manifest job not started", extra={"error_code": exc.code})
            return {"error": {"code": exc.code, "message": exc.message}}
        return {"job_id": job.id}

    def _write_error(self, key: str, problems: list[Problem]) -> None:
        body = {"manifest": key, "errors": [p.to_dict() for p in problems]}
        self.storage.put_json(outbox_key(key, "error"), json.dumps(body, indent=2))
        logger.info("manifest rejected", extra={"problems": len(problems)})

    def _clear_outbox(self, key: str) -> None:
        """A new version of a manifest starts afresh: outbox files of the previous one go."""
        for kind in ("error", "result"):
            try:
                self.storage.delete(outbox_key(key, kind))
            except Exception:
                logger.warning("could not remove an old outbox file", extra={"kind": kind})

    # --- the record -----------------------------------------------------------------------------

    def _get_record(self, key: str) -> dict | None:
        return get_record(self.table, key)

    def _claim(
        self, key: str, version: str, ordered: bool, decision: str, token: str, total: int
    ) -> dict | None:
        now = int(self.clock())
        errors = self.table.meta.client.exceptions
        try:
            if decision == "resume":
                return self.table.update_item(
                    Key={"id": record_id(key)},
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
                )["Attributes"]
            item = {
                "id": record_id(key),
                "kind": "manifest",
                "manifest_key": key,
                "version": version,
                "state": STARTING,
                "claim": token,
                "lease_until": now + LEASE_SECONDS,
                "total": total,
                "entries": [],
                "created_at": now_iso(),
                "updated_at": now_iso(),
                "expires_at": _expires_at(),
            }
            replaces = "#version < :version" if ordered else "#version <> :version"
            self.table.put_item(
                Item=item,
                ConditionExpression=f"attribute_not_exists(id) OR {replaces}",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":version": version},
            )
            return item
        except errors.ConditionalCheckFailedException:
            return None

    def _append(self, key: str, token: str, entry: dict[str, Any]) -> None:
        self._owned_update(key, token, "SET entries = list_append(entries, :entry)", {":entry": [entry]})

    def _set_started(self, key: str, token: str) -> None:
        self._owned_update(key, token, "SET #state = :started REMOVE lease_until", {":started": STARTED})

    def _owned_update(self, key: str, token: str, expression: str, values: dict[str, Any]) -> None:
        errors = self.table.meta.client.exceptions
        names = {"#claim": "claim"}
        if "#state" in expression:
            names["#state"] = "state"
        try:
            self.table.update_item(
                Key={"id": record_id(key)},
                UpdateExpression=expression,
                ConditionExpression="#claim = :token",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":token": token, **values},
            )
        except errors.ConditionalCheckFailedException:
            # our lease ran out and another trigger took the batch over (or a new version replaced it)
            raise BatchInProgress(f"lost the claim on {key}") from None


def _too_large() -> ManifestInvalid:
    return ManifestInvalid([Problem(f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes")])


# --- the notify side ----------------------------------------------------------------------------


def get_record(table: Any, manifest_key: str) -> dict | None:
    return table.get_item(Key={"id": record_id(manifest_key)}, ConsistentRead=True).get("Item")


def job_ended(job: Job, store: JobStore, storage: Storage) -> bool:
    """A job of a manifest ended: write the manifest's outbox result when it was the last one.

    Returns whether the result file was written now. Safe to repeat: the file's content depends only
    on the jobs' final states.
    """
    if not job.manifest_key:
        return False
    record = get_record(store.table, job.manifest_key)
    if record is None:
        logger.warning("job of an unknown manifest", extra={"manifest_key": job.manifest_key})
        return False
    if job.id not in {entry.get("job_id") for entry in record.get("entries") or []}:
        logger.info("job of a replaced or unfinished manifest run", extra={"manifest_key": job.manifest_key})
        return False
    if record.get("state") != STARTED:  # starting: the trigger checks when it is done; done: written
        return False
    return complete_if_finished(job.manifest_key, store, storage, record=record)


def load_jobs(store: JobStore, job_ids: list[str]) -> dict[str, Job]:
    """The jobs named, read consistently in batches of 100 (missing ones are left out).

    ``table.meta.client`` is the resource's client: it takes and gives plain Python values.
    """
    client, name = store.table.meta.client, store.table.name
    found: dict[str, Job] = {}
    unique = list(dict.fromkeys(job_ids))
    for start in range(0, len(unique), 100):
        keys = [{"id": job_id} for job_id in unique[start : start + 100]]
        request = {name: {"Keys": keys, "ConsistentRead": True}}
        for attempt in range(8):
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(name, []):
                if "operation" in item:
                    found[item["id"]] = Job.from_item(item)
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(1.0, 0.05 * 2**attempt))
        else:
            raise RuntimeError("DynamoDB left job reads unprocessed")
    return found


def _result_row(index: int, entry: dict, jobs: dict[str, Job]) -> dict[str, Any]:
    job_id = entry.get("job_id")
    job = jobs.get(job_id) if job_id else None
    if job is None:
        if job_id:
            error = {"code": "not_found", "message": "the job record is gone"}
        else:
            error = dict(entry.get("error") or {"code": "not_started", "message": "the job was not started"})
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


def complete_if_finished(
    manifest_key: str, store: JobStore, storage: Storage, *, record: dict | None = None
) -> bool:
    """Write ``outbox/<name>.result.json`` if every job of the manifest has ended."""
    record = record or get_record(store.table, manifest_key)
    if record is None or record.get("state") != STARTED:
        return False
    entries = record.get("entries") or []
    jobs = load_jobs(store, [entry["job_id"] for entry in entries if entry.get("job_id")])
    if any(not job.status.terminal for job in jobs.values()):
        return False
    rows = [_result_row(index, entry, jobs) for index, entry in enumerate(entries)]
    finished = max((row.pop("updated_at") or "" for row in rows), default="")
    result = {
        "manifest": manifest_key,
        "total": len(rows),
        "succeeded": sum(1 for row in rows if row["status"] == "succeeded"),
        "finished_at": finished or None,
        "jobs": rows,
    }
    storage.put_json(outbox_key(manifest_key, "result"), json.dumps(result, indent=2))
    errors = store.table.meta.client.exceptions
    try:
        store.table.update_item(
            Key={"id": record_id(manifest_key)},
            UpdateExpression="SET #state = :done, updated_at = :now",
            ConditionExpression="#version = :version",
            ExpressionAttributeNames={"#state": "state", "#version": "version"},
            ExpressionAttributeValues={":done": DONE, ":now": now_iso(), ":version": record["version"]},
        )
    except errors.ConditionalCheckFailedException:
        logger.info("manifest replaced while its result was written")
    logger.info("manifest result written", extra={"manifest_key": manifest_key, "jobs": len(rows)})
    return True
