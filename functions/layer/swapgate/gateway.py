"""The gateway's use cases: submit a job, apply what a provider says about it, time out, cancel.

The API, callback, poll and trigger functions are thin shells around these. Callback and poller
finish jobs through the same ``apply_provider_update``, so they copy results and move states the
same way, and racing each other produces one terminal transition and one result object.

A terminal transition is the only thing written here when a job ends: the jobs table's change stream
hands it to the job-events function (``swapgate.job_events``), which publishes the result and queues
the client notification, at least once, whatever happens to this process after the write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools import Logger

from swapgate import purge, signing
from swapgate.errors import (
    InvalidRequest,
    JobNotFound,
    NotFound,
    OperationNotSupported,
    ProviderAnswerUnknown,
    ProviderBadResponse,
    ProviderJobNotFound,
    ServiceUnavailable,
    SwapgateError,
    Unauthorized,
)
from swapgate.job_metrics import count_job
from swapgate.jobs import Job, JobStatus, JobStore, TransitionRejected, with_write_retries
from swapgate.keys import new_job_id
from swapgate.netsafety import check_url
from swapgate.poller import Poller
from swapgate.providers.base import ImageInput, Operation, Provider, ProviderJob, ProviderState
from swapgate.providers.registry import get_provider, providers_supporting, results_in_bucket
from swapgate.storage import UPLOAD_REFERENCE_PREFIX, UPLOADS_PREFIX, Storage

logger = Logger(child=True)

#: how long after the deadline the poller keeps asking to copy a result the provider reports ready
RESULT_GRACE_SECONDS = 3600


@dataclass
class ImageSource:
    """An image as a client gave it: an https URL, an ``upload://`` reference, a bucket key, or bytes."""

    field: str
    url: str | None = None
    key: str | None = None
    data: bytes | None = field(default=None, repr=False)


@dataclass
class SubmitRequest:
    operation: Operation  # SWAP or MULTI_SWAP
    source: ImageSource
    faces: list[ImageSource]
    indexes: list[int] = field(default_factory=list)
    provider: str | None = None
    webhook: str | None = None
    webhook_format: str = "swapgate"
    origin: str = "api"
    manifest_key: str | None = None
    owner: str | None = None
    #: the client's own deadline (``Cancel-After``), capped by the deployment's job timeout
    timeout_seconds: int | None = None


@dataclass
class Gateway:
    store: JobStore
    storage: Storage
    provider_factory: Callable[[str | None], Provider] = get_provider
    poller: Poller | None = None  # None: no state machine, jobs end by their webhook alone

    @classmethod
    def from_env(cls) -> Gateway:
        return cls(store=JobStore.from_env(), storage=Storage.from_env(), poller=Poller.from_env())

    # --- providers ---------------------------------------------------------------------------

    def provider_for(self, name: str | None, operation: Operation) -> Provider:
        provider = self.provider_factory(name)
        if not provider.supports(operation):
            able = [n for n in providers_supporting(operation) if n != provider.name]
            raise OperationNotSupported(
                f"provider {provider.name!r} cannot do {operation.value}; "
                f"providers that can: {', '.join(able) or 'none'}",
                field="provider",
            )
        return provider

    # --- inputs ------------------------------------------------------------------------------

    def host_image(self, image: ImageSource, stored: list[str]) -> ImageInput:
        """A URL a provider can fetch for a client's image; ``uploads/`` keys used go into ``stored``."""
        if image.data is not None:
            key = self.storage.put_upload(image.data, image.field)
        elif image.key is not None:
            self.storage.require_image_object(image.key, image.field)
            key = image.key
        elif image.url is not None and image.url.startswith(UPLOAD_REFERENCE_PREFIX):
            key = self.storage.upload_key_for_reference(image.url, image.field)
        elif image.url is not None:
            return ImageInput.from_url(check_url(image.url, image.field))
        else:
            raise InvalidRequest(f"{image.field} is required", field=image.field)
        stored.extend([key] if key.startswith(UPLOADS_PREFIX) else [])
        return ImageInput.from_url(self.storage.presigned_get(key))

    # --- submit ------------------------------------------------------------------------------

    def submit(self, request: SubmitRequest, public_url: str, *, job_id: str | None = None) -> Job:
        """Start a job's poller, create its record, hand it to the provider: in that order, so that
        every failure is safe.

        No poller or no record -> ServiceUnavailable (nothing was sent; a poller without a record
        ends itself). A definite refusal -> failed, raised with ``exc.job``. No answer -> running
        without a provider job id (its webhook or the deadline ends it). Accepted -> running. Once
        the provider may have the job, submit returns it rather than raising, so a retry with the
        same Idempotency-Key finds it instead of paying twice. With ``job_id`` (the inbox's) submit
        is create-if-absent: a job that exists is returned and never submitted again.
        """
        provider = self.provider_for(request.provider, request.operation)
        if request.webhook:
            check_url(request.webhook, "webhook")
        if job_id is not None and (existing := self.store.find(job_id)) is not None:
            return existing
        uploads: list[str] = []
        source = self.host_image(request.source, uploads)
        faces = [self.host_image(face, uploads) for face in request.faces]

        job = Job(
            id=job_id or new_job_id(),
            provider=provider.name,
            operation=request.operation.value,
            webhook=request.webhook,
            webhook_format=request.webhook_format,
            origin=request.origin,
            manifest_key=request.manifest_key,
            owner=request.owner,
            upload_keys=uploads or None,
        )
        logger.append_keys(job_id=job.id)
        self._start_poller(job, request.timeout_seconds)
        try:
            stored, created = with_write_retries(lambda: self.store.create_if_absent(job))
        except Exception as exc:  # the poller finds no record and ends itself
            logger.exception("the job record could not be created; nothing was sent to the provider")
            raise ServiceUnavailable("the job could not be started; nothing was sent, try again") from exc
        if not created and stored.created_at != job.created_at:  # another submit of this id was first
            return stored
        logger.info("job created", extra={"provider": provider.name, "operation": job.operation})
        count_job("JobsSubmitted", job, "accepted")
        callback_url = (
            f"{public_url.rstrip('/')}/callbacks/{provider.name}/{job.id}"
            f"?token={quote(signing.callback_token(job.id))}"
        )
        try:
            if request.operation is Operation.MULTI_SWAP:
                answer = provider.multi_swap(source, faces, request.indexes, callback_url)
            else:
                answer = provider.swap(source, faces[0], callback_url)
        except ProviderAnswerUnknown as exc:
            logger.warning("the provider's answer never came; the job runs on", extra={"error": exc.message})
            return self._accepted(job, submit_ambiguous=True)
        except SwapgateError as exc:
            exc.job = self._refused(job, exc)  # type: ignore[attr-defined]  # lets the API name the job
            raise
        return self._accepted(job, provider_job_id=answer.job_id, points=answer.cost)

    def _start_poller(self, job: Job, timeout_seconds: int | None = None) -> None:
        if not self.poller:
            return
        try:
            execution = self.poller.start(job.id, timeout_seconds)
        except Exception as exc:
            logger.exception("the poller could not be started; no job was created")
            raise ServiceUnavailable("the job could not be started; nothing was created, try again") from exc
        job.execution_arn, job.deadline = execution.arn, execution.input.deadline

    def _accepted(self, job: Job, **changes: Any) -> Job:
        """queued -> running with what the provider answered. Never raises: the provider may have
        charged for the job, so the client must learn its id."""
        try:
            return with_write_retries(lambda: self.store.transition(job.id, JobStatus.RUNNING, **changes))
        except TransitionRejected as rejected:  # the provider's webhook was faster than we were
            logger.info("provider answered after its webhook", extra={"status": rejected.job.status})
            job, changes = rejected.job, {k: v for k, v in changes.items() if k != "submit_ambiguous"}
        except Exception:
            logger.exception(
                "could not record the provider's answer; its webhook or the deadline ends the job"
            )
            return job
        try:
            return with_write_retries(lambda: self.store.update(job.id, **changes)) if changes else job
        except Exception:
            logger.exception("could not record the provider's answer")
            return job

    def _refused(self, job: Job, exc: SwapgateError) -> Job:
        """The provider refused the job: it ends failed (or, if even that write fails, by the deadline)."""
        try:
            return with_write_retries(
                lambda: self._finish(job.id, JobStatus.FAILED, error_code=exc.code, error_message=exc.message)
            )
        except Exception:
            logger.exception("could not mark the refused job failed; the deadline ends it")
            return job

    # --- finishing ---------------------------------------------------------------------------

    def apply_provider_update(self, job_id: str, update: ProviderJob) -> Job:
        """Apply a provider's word on a job (from its webhook or from fetch). Idempotent."""
        job = self.store.get(job_id)
        if job.status.terminal or job.data_removed:
            logger.info("update for a finished job ignored", extra={"status": job.status})
            return job
        if update.job_id and job.provider_job_id and update.job_id != job.provider_job_id:
            raise InvalidRequest("the update names another provider job", field="task_id")
        if job.status is JobStatus.QUEUED:
            job = self._to_running(job, update)
        elif update.job_id and not job.provider_job_id:  # submit never learnt it (ambiguous answer)
            job = self.store.update(job.id, provider_job_id=update.job_id)
        if update.state is ProviderState.SUCCEEDED:
            return self._succeed(job, update)
        if update.state is ProviderState.FAILED:
            return self._finish(
                job.id,
                JobStatus.FAILED,
                error_code=update.error_code or "provider_job_failed",
                error_message=update.error_message or "the provider could not swap the faces",
                points=update.cost,
            )
        return job

    def accept_callback(self, provider: str, job_id: str, token: str | None, body: str) -> Job:
        """A provider's webhook about one of our jobs, checked, then applied (``apply_provider_update``).

        Raises Unauthorized when ``token`` is not this job's callback token, NotFound for an unknown
        job, InvalidRequest when the job does not run on ``provider`` or the body is not a webhook of
        its shape (sending it again cannot help); then whatever applying it raises (a retryable
        error: the provider's retry or the poller can still finish).
        """
        if not signing.check_callback_token(job_id, token):
            logger.warning("callback with a missing or wrong token")
            raise Unauthorized("missing or wrong callback token")
        try:
            job = self.store.get(job_id)
        except JobNotFound:
            raise NotFound(f"no job {job_id!r}") from None
        if job.provider != provider:
            raise InvalidRequest(f"job {job_id} does not run on {provider}")
        try:
            update = self.provider_factory(provider).parse_webhook(body)
        except ProviderBadResponse as exc:
            raise InvalidRequest(f"the webhook body cannot be read: {exc.message}", field="body") from None
        return self.apply_provider_update(job_id, update)

    def _to_running(self, job: Job, update: ProviderJob) -> Job:
        try:
            return self.store.transition(job.id, JobStatus.RUNNING, provider_job_id=update.job_id or None)
        except TransitionRejected as rejected:
            return rejected.job

    def _succeed(self, job: Job, update: ProviderJob) -> Job:
        if not update.result_url:
            return self._finish(
                job.id, JobStatus.FAILED, error_code="provider_bad_response", error_message="no result image"
            )
        try:
            staged = self.storage.stage_result(
                job.id, update.result_url, trusted_s3=results_in_bucket(job.provider)
            )
        except SwapgateError as exc:
            if exc.retryable:
                raise  # the provider's retry or the poller's next fetch can still save the result
            return self._finish(
                job.id, JobStatus.FAILED, error_code="result_copy_failed", error_message=exc.message
            )
        # A failure other than a rejection leaves the staged copy: the write may have happened after
        # all, and then the job-events function publishes it; if not, the staging/ lifecycle removes it.
        try:
            finished = self.store.transition(
                job.id,
                JobStatus.SUCCEEDED,
                result_key=staged.result_key,
                staged_key=staged.key,
                provenance=staged.provenance,
                points=update.cost,
            )
        except TransitionRejected as rejected:  # canceled (or ended) meanwhile: drop the late result
            logger.info("job already finished", extra={"status": rejected.job.status, "wanted": "succeeded"})
            self._drop_staged(staged.key)
            return rejected.job
        self._ended(finished)
        try:  # the job-events function publishes it too; doing it now gives the client its URL at once
            self.storage.publish_result(staged.key, staged.result_key)
        except Exception:
            logger.warning("result not published yet; the job-events function publishes it", exc_info=True)
        return finished

    def _drop_staged(self, key: str) -> None:
        try:
            self.storage.delete(key)
        except Exception:  # the staging/ lifecycle removes it
            logger.warning("could not remove a staged result", exc_info=True)

    def _finish(self, job_id: str, status: JobStatus, **changes: Any) -> Job:
        """The one way into a terminal status (but success, see ``_succeed``): the conditional write."""
        try:
            job = self.store.transition(job_id, status, **changes)
        except TransitionRejected as rejected:
            logger.info("job already finished", extra={"status": rejected.job.status, "wanted": status})
            return rejected.job
        self._ended(job)
        return job

    def _ended(self, job: Job) -> None:
        logger.info("job finished", extra={"status": job.status, "error_code": job.error_code})
        count_job("JobsFinished", job, str(job.status))

    def time_out(self, job_id: str) -> Job:
        """The deadline passed: the job ends timed_out, unless the provider (asked one last time, when
        it can be) has finished it; then it ends as the provider says. Raises JobNotFound."""
        job = self.store.get(job_id)
        if job.status.terminal:
            return job
        finished = self._last_look(job)
        if finished is not None:
            return finished
        return self._finish(
            job_id,
            JobStatus.TIMED_OUT,
            error_code="timed_out",
            error_message="the provider did not finish the job before the deadline",
        )

    def _last_look(self, job: Job) -> Job | None:
        """The job as the provider's final word leaves it, or None to time it out. A result the
        provider has but that cannot be copied right now raises (the poller asks again later) until
        RESULT_GRACE_SECONDS after the deadline."""
        if not job.provider_job_id:
            return None
        provider = self.provider_factory(job.provider)
        if not provider.supports(Operation.FETCH):
            return None
        try:
            update = provider.fetch(job.provider_job_id)
        except SwapgateError as exc:
            logger.info("last fetch failed", extra={"error_code": exc.code})
            return None
        if not update.state.terminal:
            return None
        try:
            finished = self.apply_provider_update(job.id, update)
        except SwapgateError as exc:
            if exc.retryable and time.time() < (job.deadline or 0) + RESULT_GRACE_SECONDS:
                raise
            return None
        return finished if finished.status.terminal else None

    def cancel(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job.status.terminal:
            return job
        job = self._finish(job_id, JobStatus.CANCELED, error_code="canceled", error_message="canceled")
        if job.status is JobStatus.CANCELED and job.execution_arn and self.poller:
            self.poller.stop(job.execution_arn)
        return job

    def purge(self, job_id: str) -> Job:
        """Cancel the job if it runs, then remove all Swapgate stored for it (``swapgate.purge``)."""
        return purge.purge(self.store, self.storage, self.cancel(job_id))

    # --- polling -----------------------------------------------------------------------------

    def poll_job(self, job_id: str) -> Job:
        """The poller's look at a job: fetch from providers that can, else just read the record."""
        job = self.store.get(job_id)
        if job.status.terminal or not job.provider_job_id:
            return job
        provider = self.provider_factory(job.provider)
        if not provider.supports(Operation.FETCH):
            return job
        try:
            update = provider.fetch(job.provider_job_id)
        except ProviderJobNotFound as exc:
            return self._finish(job.id, JobStatus.FAILED, error_code=exc.code, error_message=exc.message)
        except SwapgateError as exc:  # keep polling until the deadline
            logger.warning("fetch failed", extra={"error_code": exc.code})
            return job
        return self.apply_provider_update(job.id, update)
