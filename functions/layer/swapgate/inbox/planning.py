"""From a parsed manifest to submit requests: everything a job needs is checked before any starts.

IMAGE in a manifest is a key in the bucket (``inbox/photos/a.jpg``, ``uploads/x.png``), an https
URL, or an ``upload://`` reference; the provider must serve the operation and the webhook must be a
public https URL. Planning only reads (the images' first bytes); it starts nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from swapgate.access import inbox_owner
from swapgate.errors import InvalidRequest, SwapgateError
from swapgate.gateway import Gateway, ImageSource, SubmitRequest
from swapgate.inbox.manifest import OUTBOX_PREFIX, Manifest, ManifestInvalid, ManifestJob, Problem
from swapgate.netsafety import check_url
from swapgate.providers.base import check_indexes
from swapgate.storage import UPLOAD_REFERENCE_PREFIX, Storage

Report = Callable[[SwapgateError, str], None]


def plan(manifest: Manifest, gateway: Gateway) -> list[SubmitRequest]:
    """One submit request per job (origin ``inbox``), in manifest order.

    Raises ManifestInvalid listing every problem (in job order).
    """
    requests, problems = [], []
    for index, job in enumerate(manifest.jobs):
        problems.extend(p for p in manifest.problems if p.job == index)
        if job is None:
            continue
        prefix = f"jobs[{index}]." if manifest.batch else ""
        found: list[Problem] = []
        request = _plan_job(gateway, job, prefix, index, found)
        problems.extend(found)
        if request is not None:
            requests.append(request)
    if problems:
        raise ManifestInvalid(problems)
    return requests


def _plan_job(
    gateway: Gateway, job: ManifestJob, prefix: str, index: int, found: list[Problem]
) -> SubmitRequest | None:
    def problem(exc: SwapgateError, name: str) -> None:
        if exc.retryable:  # trouble on our side (S3 throttled): the event is retried, not rejected
            raise exc
        found.append(Problem(exc.message, field=name, job=index, code=exc.code))

    operation = job.operation
    try:
        provider = gateway.provider_for(job.provider, operation).name
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
    source = _image(gateway.storage, job.source_image, f"{prefix}source_image", problem)
    names = (
        [(job.face_image, f"{prefix}face_image")]
        if job.face_image is not None
        else [(face, f"{prefix}face_images[{i}]") for i, face in enumerate(job.face_images or ())]
    )
    faces = [_image(gateway.storage, value, name, problem) for value, name in names]
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
        owner=inbox_owner(),
    )


def _image(storage: Storage, value: str, name: str, problem: Report) -> ImageSource | None:
    try:
        if value.startswith(UPLOAD_REFERENCE_PREFIX):
            storage.upload_key_for_reference(value, name)
            return ImageSource(field=name, url=value)
        if "://" in value:
            return ImageSource(field=name, url=check_url(value, name))
        if value.startswith("/") or value.startswith(OUTBOX_PREFIX):
            raise InvalidRequest(
                f"{name} must be a key in the bucket (no leading /, not under outbox/) or an https URL",
                field=name,
            )
        storage.require_image_object(value, name)
        return ImageSource(field=name, key=value)
    except SwapgateError as exc:
        problem(exc, name)
        return None
