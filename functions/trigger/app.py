"""The S3 upload trigger: objects created under ``inbox/`` arrive as S3 event notifications through
the inbox SQS queue. JSON manifests start jobs (``swapgate.inbox``); other objects are ignored.

Records that fail (transient trouble, a batch another invocation is starting) are reported as
partial batch failures and come back after the queue's visibility timeout; the dead-letter queue
takes them after the last try.
"""

from __future__ import annotations

from functools import cache
from urllib.parse import unquote_plus

from swapgate import coldstart  # first: the light Powertools package faces (see swapgate.coldstart)

# isort: split
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from swapgate import budget
from swapgate.errors import SwapgateError
from swapgate.inbox import Inbox, Outcome

logger = Logger()
tracer = coldstart.LazyTracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
#: what the invocation keeps for itself after its last provider call: recording and answering
END_MARGIN_SECONDS = 10


@cache  # one per execution environment, made on first use
def inbox() -> Inbox:
    return Inbox.from_env()


coldstart.snapstart(warm=tracer.load, refresh=(inbox,))


def created_objects(record: SQSRecord) -> list[S3EventRecord]:
    """The ObjectCreated records of the S3 event an SQS message carries; none for S3's
    ``s3:TestEvent`` (sent when the notification is configured) or a body that is not an S3 event."""
    try:
        body = record.json_body
    except ValueError:
        logger.error("inbox message is not JSON; dropped")
        return []
    if not isinstance(body, dict):
        return []
    if body.get("Event") == "s3:TestEvent":
        logger.info("S3 test event ignored")
        return []
    records = [S3EventRecord(item) for item in body.get("Records") or []]
    return [
        r
        for r in records
        if r.get("eventSource") == "aws:s3" and str(r.get("eventName", "")).startswith("ObjectCreated")
    ]


def handle_created(created: S3EventRecord) -> Outcome:
    obj = created.s3.get_object
    return inbox().handle_object(
        bucket=created.s3.bucket.name,
        key=unquote_plus(obj.key),  # S3 sends keys URL-encoded (a space as +)
        etag=obj.etag or None,
        sequencer=obj.get("sequencer"),  # optional: S3Object's properties would raise without them
        size=obj.get("size"),
    )


def record_handler(record: SQSRecord) -> list[dict]:
    try:
        outcomes = [handle_created(created) for created in created_objects(record)]
    except SwapgateError as exc:  # expected trouble (a batch being started elsewhere, configuration)
        logger.warning(
            "inbox event not handled; retried later", extra={"error_code": exc.code, "error": exc.message}
        )
        raise
    except Exception:
        logger.exception("inbox event failed; retried later")
        raise
    return [{"key": o.key, "action": o.action, "jobs": o.job_ids} for o in outcomes]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    left = budget.seconds_left(context)
    with budget.until(None if left is None else left - END_MARGIN_SECONDS):  # no call outlives us
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
