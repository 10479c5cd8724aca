"""The S3 upload trigger: objects created under ``inbox/`` arrive as S3 event notifications through
the inbox SQS queue. JSON manifests start jobs (``swapgate.inbox``); other objects are ignored.

Records that fail (transient trouble, a batch another invocation is starting) are reported as
partial batch failures and come back after the queue's visibility timeout; the dead-letter queue
takes them after the last try.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from swapgate.errors import SwapgateError
from swapgate.inbox import Inbox

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache  # one per execution environment, made on first use
def inbox() -> Inbox:
    return Inbox.from_env()


def record_handler(record: SQSRecord) -> list[dict]:
    try:
        outcomes = inbox().handle_message(record.body)
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
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
