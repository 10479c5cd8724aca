"""The jobs table's change stream: each job that ends (a record kept by the event source mapping's
filter, ``swapgate.job_events.STREAM_FILTER``) gets its result published, its staging area cleared
and its notification queued (``swapgate.job_events``).

A record that fails is reported as a partial batch failure: Lambda retries from it (bisecting the
batch), up to the mapping's MaximumRetryAttempts, then sends the batch's description to the
dead-letter queue. Every step is idempotent, so records that come again are harmless.
"""

from __future__ import annotations

from functools import cache

from swapgate import coldstart  # first: the light Powertools package faces (see swapgate.coldstart)

# isort: split
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from swapgate.job_events import JobEvents, ended_job
from swapgate.shell import batch_handler

logger = Logger()
tracer = coldstart.LazyTracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


@cache  # one per execution environment, made on first use
def job_events() -> JobEvents:
    return JobEvents.from_env()


coldstart.snapstart(warm=tracer.load, refresh=(job_events,))


def record_handler(record: DynamoDBRecord) -> str | None:
    job = ended_job(record)
    if job is None:  # the filter lets only job endings through; anything else is not ours
        return None
    logger.append_keys(job_id=job.id, status=str(job.status))
    try:
        job_events().ended(job)
    except Exception:
        logger.exception("follow-ups of an ended job failed; retried from this record")
        raise
    finally:
        logger.remove_keys(["job_id", "status"])
    return job.id


handler = batch_handler(record_handler, processor, logger=logger, tracer=tracer, metrics=metrics)
