"""Client webhooks: a finished job's signed delivery, and the notify function's retry decision.

Every delivery is signed as Standard Webhooks describes (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``; :func:`swapgate.signing.verify_webhook` checks them). ``webhook-id`` is
``msg_<job id>_<status>``: the same on every retry of a job's terminal event. The body is the job in
the format the client asked for (``swapgate.views``).

:class:`Notifier` is the notify function's logic: one notify-queue message ``{"job_id", "status"}``
in (queued by the job-events function, at least once); the manifest's outbox record updated (inbox
jobs) and the webhook delivered; a failed delivery backs off (visibility timeout growing with the
receive count) and is retried by SQS until the queue's dead-letter queue takes it.

A webhook is sent once per transition even when its message comes twice: the delivery is claimed on
the job item for a short lease before the POST, and recorded there (``notified``) after a 2xx; a
message whose webhook is recorded is dropped, one whose claim another delivery holds is retried.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger

from swapgate import signing
from swapgate.errors import (
    DeliveryFailed,
    DeliveryRefused,
    HostNotFound,
    InvalidRequest,
    JobNotFound,
    RequestFailed,
    SwapgateError,
)
from swapgate.jobs import ALREADY_SENT, CLAIM_HELD, Job, JobStore, with_write_retries
from swapgate.netsafety import checked_addresses, parse
from swapgate.outbound import safe_request
from swapgate.retry import Backoff
from swapgate.storage import Storage
from swapgate.views import webhook_payload

logger = Logger(child=True)

#: the whole of one webhook POST (connect, send, answer), in seconds
DELIVERY_DEADLINE_SECONDS = 5.0
#: the wait before the next try of a failed delivery: 30 s, 60 s, 120 s ... at most 15 minutes
RETRY_BACKOFF = Backoff(base=30, cap=900)
USER_AGENT = "Swapgate-Webhooks/1"
#: how long a delivery holds its claim: longer than the notify function's timeout, so a live delivery
#: is never taken over, short enough that one that died is retried soon (the queue's own delay is 90 s)
CLAIM_LEASE_SECONDS = 60


def message_id(job: Job) -> str:
    """The ``webhook-id`` of a job's terminal event: the same on every retry of that event."""
    return f"msg_{job.id}_{job.status}"


@dataclass(frozen=True)
class Delivery:
    message_id: str
    status_code: int


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def check_target(url: str) -> str:
    """Raise DeliveryRefused for a URL the URL policy refuses (not a public https endpoint, unless
    SWAPGATE_ALLOW_PRIVATE_URLS), DeliveryFailed when its host does not resolve right now (DNS can
    recover). ``deliver`` applies the same policy again where it connects."""
    try:
        checked_addresses(parse(url, "webhook"), "webhook")
    except InvalidRequest as exc:
        raise DeliveryRefused(exc.message, field="webhook") from None
    except HostNotFound:
        raise DeliveryFailed("the webhook host does not resolve", field="webhook") from None
    return url


def deliver(
    job: Job,
    storage: Storage,
    *,
    secret: str | None = None,
    deadline_s: float = DELIVERY_DEADLINE_SECONDS,
) -> Delivery:
    """POST the job's JSON to ``job.webhook``, signed; raise DeliveryFailed unless it answers 2xx.

    The connection goes to the address the URL policy checked, and the whole exchange has one
    deadline, so a slow receiver cannot hold the notify function. Redirects are not followed: a 3xx
    is a failed delivery.
    """
    if not job.webhook:
        raise DeliveryRefused("the job has no webhook", field="webhook")
    url = job.webhook
    body = json.dumps(webhook_payload(job, storage), separators=(",", ":"))
    msg_id = message_id(job)
    headers = signing.sign_webhook(msg_id, body, secret or signing.webhook_secret())
    headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
    try:
        answer = safe_request(
            "POST", url, field="webhook", deadline_s=deadline_s, data=body.encode(), headers=headers
        )
    except InvalidRequest as exc:
        raise DeliveryRefused(exc.message, field="webhook") from None
    except RequestFailed as exc:  # no answer in time, no connection, a host that does not resolve
        raise DeliveryFailed(f"the webhook host {_host(url)} {exc.reason}") from None
    if not 200 <= answer.status < 300:
        raise DeliveryFailed(f"the webhook host {_host(url)} answered HTTP {answer.status}")
    logger.info("webhook delivered", extra={"webhook_id": msg_id, "host": _host(url), "http": answer.status})
    return Delivery(msg_id, answer.status)


def retry_delay(receive_count: int) -> int:
    """Seconds before the next try after the ``receive_count``-th failed one: 30, 60, 120 ... 900."""
    return int(RETRY_BACKOFF.delay(receive_count))


def queue_url_from_arn(arn: str) -> str:
    """``arn:aws:sqs:<region>:<account>:<name>`` -> the queue's URL."""
    _, partition, _, region, account, name = arn.split(":", 5)
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


# --- the notify function's logic ----------------------------------------------------------------


@dataclass
class Notifier:
    """Handles notify-queue messages: ``{"job_id": ..., "status": ...}``."""

    store: JobStore
    storage: Storage
    sqs: Any = None
    queue_url: str | None = None

    @classmethod
    def from_env(cls) -> Notifier:
        import boto3

        from swapgate import config

        return cls(
            store=JobStore.from_env(),
            storage=Storage.from_env(),
            sqs=boto3.client("sqs"),
            queue_url=config.env("SWAPGATE_NOTIFY_QUEUE_URL"),
        )

    def notify(self, job_id: str) -> Job | None:
        """Update the manifest's outbox record and deliver the webhook of a finished job.

        Returns the job, or None when there is nothing (left) to do. Raises DeliveryFailed (or any
        other error) when the message must be tried again.
        """
        try:
            job = self.store.get(job_id)
        except JobNotFound:
            logger.warning("notification for an unknown job dropped")
            return None
        if not job.status.terminal:
            logger.warning("notification for an unfinished job dropped", extra={"status": job.status})
            return None
        if job.manifest_key:  # first: our own record must not wait on a client's webhook host
            from swapgate import inbox

            inbox.job_ended(job, self.store, self.storage)
        if job.webhook:
            self._deliver_once(job)
        return job

    def _deliver_once(self, job: Job) -> None:
        msg_id, token = message_id(job), uuid.uuid4().hex
        claim = self.store.claim_notification(
            job.id, msg_id, token, now=time.time(), lease=CLAIM_LEASE_SECONDS
        )
        if claim == ALREADY_SENT:
            logger.info("webhook already delivered; duplicate message dropped", extra={"webhook_id": msg_id})
            return
        if claim == CLAIM_HELD:
            raise DeliveryFailed("another delivery of this webhook is in progress; tried again later")
        try:
            deliver(job, self.storage)
        except DeliveryRefused as exc:
            logger.warning("webhook dropped", extra={"reason": exc.message})
            self._release(job.id, token)
            return
        except Exception:
            self._release(job.id, token)
            raise
        with_write_retries(lambda: self.store.record_notified(job.id, msg_id))

    def _release(self, job_id: str, token: str) -> None:
        try:
            self.store.release_notification(job_id, token)
        except Exception:  # the claim's lease runs out instead
            logger.warning("could not release the delivery claim", exc_info=True)

    def process(
        self,
        body: str,
        *,
        receive_count: int = 1,
        receipt_handle: str | None = None,
        queue_arn: str | None = None,
    ) -> Job | None:
        """One SQS record. On failure the message's visibility timeout is set to the backoff delay,
        then the error is raised so that the batch reports the record as failed."""
        try:
            message = json.loads(body)
            job_id = message["job_id"]
        except (ValueError, TypeError, KeyError):
            logger.error("malformed notify message dropped")
            return None
        logger.append_keys(job_id=job_id)
        try:
            return self.notify(job_id)
        except Exception as exc:
            delay = retry_delay(receive_count)
            details = {"try": receive_count, "retry_in": delay}
            if isinstance(exc, SwapgateError):  # a refused delivery, a missing secret: no traceback
                logger.warning(
                    "notification failed", extra={**details, "error_code": exc.code, "error": exc.message}
                )
            else:
                logger.exception("notification failed", extra=details)
            self._back_off(receipt_handle, queue_arn, delay)
            raise
        finally:
            logger.remove_keys(["job_id"])

    def _back_off(self, receipt_handle: str | None, queue_arn: str | None, delay: int) -> None:
        if not (self.sqs and receipt_handle):
            return
        url = queue_url_from_arn(queue_arn) if queue_arn else self.queue_url
        if not url:
            return
        try:
            self.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay
            )
        except Exception:  # the queue's own visibility timeout applies instead
            logger.exception("could not set the retry delay")
