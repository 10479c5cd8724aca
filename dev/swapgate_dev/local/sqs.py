"""An SQS event source mapping: a thread that receives from a queue and invokes a function with
the event Lambda's poller builds, deleting what the function processed.

As Lambda does it: a batch of up to ``batch_size`` messages; ``Records`` with ``messageId``,
``receiptHandle``, ``body``, ``attributes``, ``messageAttributes``, ``md5OfBody``,
``eventSource``, ``eventSourceARN``, ``awsRegion``. When the function fails (raises, times out)
or is throttled, nothing is deleted (every message comes back after its visibility timeout and,
past ``maxReceiveCount``, moto moves it to the dead-letter queue). With
``ReportBatchItemFailures``, the messages named in the answer's ``batchItemFailures`` stay and the
others are deleted; an answer naming an id that is not in the batch (or an empty id) fails the
whole batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from swapgate_dev.local.poll_loop import PollLoop
from swapgate_dev.local.runtime import HandlerError, TooManyRequests

log = logging.getLogger("swapgate_dev.local.sqs")

Invoke = Callable[[dict[str, Any]], Any]


def _message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS API message attributes in the lower-camel shape Lambda events use."""
    converted = {}
    for name, value in (attributes or {}).items():
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
    return converted


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The Lambda event for a batch received with ``AttributeNames=[All]``."""
    records = []
    for message in messages:
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": _message_attributes(message.get("MessageAttributes") or {}),
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def processed_messages(
    messages: list[dict[str, Any]], response: Any, report_batch_item_failures: bool
) -> list[dict[str, Any]]:
    """The messages to delete after a successful invocation that answered ``response``."""
    if not report_batch_item_failures:
        return list(messages)
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    if not failures:
        return list(messages)
    batch_ids = {message["MessageId"] for message in messages}
    failed_ids = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not item or item not in batch_ids:
            log.warning("batchItemFailures names %r, not in the batch: the whole batch is retried", item)
            return []
        failed_ids.add(item)
    return [message for message in messages if message["MessageId"] not in failed_ids]


class SqsEventSource(PollLoop):
    """Polls ``queue_url`` and delivers batches to ``invoke`` until ``stop()``."""

    kind = "sqs"

    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Invoke,
        *,
        name: str = "sqs",
        batch_size: int = 10,
        report_batch_item_failures: bool = False,
        region: str = "us-east-1",
        idle_seconds: float = 0.2,
    ) -> None:
        super().__init__(name, idle_seconds)
        self.sqs, self.queue_url, self.queue_arn, self.invoke = sqs_client, queue_url, queue_arn, invoke
        self.batch_size = max(1, min(10, batch_size))  # one ReceiveMessage call returns at most 10
        self.report_batch_item_failures = report_batch_item_failures
        self.region = region

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.poll_once()
            except Exception:
                self.errors += 1
                log.exception("%s: polling %s failed", self.name, self.queue_url)
                delivered = 0
            if not delivered:
                self._stop.wait(self.idle_seconds)

    def poll_once(self) -> int:
        """Receive one batch and deliver it; the number of messages received."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        messages = response.get("Messages") or []
        if not messages:
            return 0
        self.batches += 1
        event = sqs_event(messages, self.queue_arn, self.region)
        try:
            result = self.invoke(event)
        except (HandlerError, TooManyRequests) as exc:  # logged by the function's environment
            self.errors += 1
            log.warning("%s: %s; %d message(s) will be retried", self.name, exc, len(messages))
            return len(messages)
        except Exception:
            self.errors += 1
            log.exception("%s: the function failed; %d message(s) will be retried", self.name, len(messages))
            return len(messages)
        done = processed_messages(messages, result, self.report_batch_item_failures)
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(done)
                ],
            )
        return len(messages)
