"""What follows a job's terminal transition, run by the job-events function from the jobs table's
change stream.

The conditional write that ends a job is the only thing the gateway does when a job ends. DynamoDB
Streams hands that write to the job-events function at least once, whatever happened to the writer
after it; the function then, for each job that moved from queued or running to a terminal status:

1. succeeded: publishes the staged result to ``results/`` (skipped when it is there already);
2. deletes whatever is left under ``staging/<job id>/`` (late duplicates that lost);
3. when the job has a webhook or belongs to a manifest, queues ``{"job_id", "status"}`` on the notify
   queue; the notify function delivers with backoff and its own dead-letter queue, so a slow
   receiver never holds up a stream shard.

Every step is idempotent, so a record handled twice does no harm (the notify function records each
delivered webhook on the job and never sends it twice). :data:`STREAM_FILTER` is the event source
mapping's filter (template.yaml holds the same pattern; tests/infra compares them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from swapgate import config, keys
from swapgate.errors import NotConfigured
from swapgate.jobs import TERMINAL, Job, JobStatus
from swapgate.storage import Storage

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

logger = Logger(child=True)

#: the statuses a job ends from
UNFINISHED = (str(JobStatus.QUEUED), str(JobStatus.RUNNING))

#: the stream records the function is invoked for: a job item moving from unfinished to terminal
STREAM_FILTER: dict[str, Any] = {
    "eventName": ["MODIFY"],
    "dynamodb": {
        "NewImage": {
            "id": {"S": [{"prefix": keys.JOB_PREFIX}]},
            "status": {"S": sorted(str(status) for status in TERMINAL)},
        },
        "OldImage": {"status": {"S": list(UNFINISHED)}},
    },
}


def ended_job(record: DynamoDBRecord) -> Job | None:
    """The job a stream record shows ending (its new image), or None for any other change."""
    if record.event_name is None or record.event_name.name != "MODIFY" or record.dynamodb is None:
        return None
    new, old = record.dynamodb.new_image, record.dynamodb.old_image
    if not keys.is_job_item(new) or not str(new.get("id", "")).startswith(keys.JOB_PREFIX):
        return None
    job = Job.from_item(new)
    if not job.status.terminal or old.get("status") not in UNFINISHED:
        return None
    return job


@dataclass
class JobEvents:
    storage: Storage
    sqs: Any
    notify_queue_url: str | None

    @classmethod
    def from_env(cls) -> JobEvents:
        import boto3

        return cls(
            storage=Storage.from_env(),
            sqs=boto3.client("sqs"),
            notify_queue_url=config.env("SWAPGATE_NOTIFY_QUEUE_URL"),
        )

    def ended(self, job: Job) -> None:
        """The follow-ups of the job's terminal transition. Raises when one must be tried again.

        A purged job's result is never published (a purge clears ``staging/`` before ``results/``,
        so a publish of a stream record handled after the purge finds nothing to copy)."""
        if job.data_removed:
            logger.info("job purged; nothing to publish or notify")
            return
        if job.status is JobStatus.SUCCEEDED and job.staged_key and job.result_key:
            self._publish(job.staged_key, job.result_key)
        removed = self.storage.clear_staging(job.id)
        if removed:
            logger.info("staged copies of late results removed", extra={"objects": removed})
        if job.webhook or job.manifest_key:
            self._notify(job)

    def _publish(self, staged_key: str, result_key: str) -> None:
        if not self.storage.publish_result(staged_key, result_key):
            logger.error("result lost: its staged copy expired before it was published")

    def _notify(self, job: Job) -> None:
        if not self.notify_queue_url:
            raise NotConfigured("set SWAPGATE_NOTIFY_QUEUE_URL: ended jobs are notified through it")
        self.sqs.send_message(
            QueueUrl=self.notify_queue_url,
            MessageBody=json.dumps({"job_id": job.id, "status": str(job.status)}),
        )
        logger.info("notification queued", extra={"status": job.status})
