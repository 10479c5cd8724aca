"""Client webhooks: each notify-queue message names a finished job. The job's manifest outbox record
is updated (inbox jobs) and its webhook POSTed, signed (``swapgate.delivery``).

A failed delivery sets the message's visibility timeout to a growing delay (30 s, 60 s, 120 s ...
capped) and is reported as a partial batch failure; after the queue's maxReceiveCount the dead-letter
queue takes it. Jobs that are gone and webhook URLs that are now refused are dropped, not retried.
"""

from __future__ import annotations

from functools import cache

from swapgate import coldstart  # first: the light Powertools package faces (see swapgate.coldstart)

# isort: split
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from swapgate.delivery import Notifier
from swapgate.shell import batch_handler

logger = Logger()
tracer = coldstart.LazyTracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache  # one per execution environment, made on first use
def notifier() -> Notifier:
    return Notifier.from_env()


coldstart.snapstart(warm=tracer.load, refresh=(notifier,))


def record_handler(record: SQSRecord) -> str | None:
    job = notifier().process(
        record.body,
        receive_count=int(record.attributes.approximate_receive_count or 1),
        receipt_handle=record.receipt_handle,
        queue_arn=record.event_source_arn,
    )
    return job.id if job else None


handler = batch_handler(record_handler, processor, logger=logger, tracer=tracer, metrics=metrics)
