"""A manifest's shape and the inbox's key names: pure parsing, no AWS.

A manifest is one job or a batch::

    {"source_image": IMAGE, "face_image": IMAGE, "provider"?: NAME, "webhook"?: URL}
    {"source_image": IMAGE, "face_images": [IMAGE, ...], "indexes": [INT, ...], "provider"?, "webhook"?}
    {"jobs": [JOB, JOB, ...]}

Only the shape is checked here (fields, types, which face fields go together); whether the images,
provider and webhook are usable is the planner's question (``swapgate.inbox.planning``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swapgate.errors import field_problem
from swapgate.providers.base import Operation

INBOX_PREFIX = "inbox/"
OUTBOX_PREFIX = "outbox/"
MAX_MANIFEST_BYTES = 256 * 1024
MAX_JOBS = 100
MAX_FACES = 10


def is_manifest_key(key: str) -> bool:
    return key.startswith(INBOX_PREFIX) and key.lower().endswith(".json") and len(key) > len(INBOX_PREFIX) + 5


def outbox_key(manifest_key: str, kind: str) -> str:
    """``inbox/a/b.json`` -> ``outbox/a/b.<kind>.json`` (kind: ``result`` or ``error``)."""
    name = manifest_key[len(INBOX_PREFIX) :] if manifest_key.startswith(INBOX_PREFIX) else manifest_key
    if name.lower().endswith(".json"):
        name = name[: -len(".json")]
    return f"{OUTBOX_PREFIX}{name}.{kind}.json"


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


def too_large() -> ManifestInvalid:
    return ManifestInvalid([Problem(f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes")])


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
