"""SQS -> function delivery: the event shape and partial batch failures, against a moto server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from swapgate_dev.local.runtime import LambdaFunction
from swapgate_dev.local.sqs import SqsEventSource

BATCH_APP = Path(__file__).parent / "batch_fn" / "app.py"


@pytest.fixture
def queue(aws):
    sqs = aws("sqs")
    dead = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": "0",  # a failed message is visible again at once
            "RedrivePolicy": f'{{"deadLetterTargetArn": "{dead_arn}", "maxReceiveCount": "2"}}',
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, url, arn, dead


@pytest.fixture
def batch_function(tmp_path):
    function = LambdaFunction(
        "batch", BATCH_APP, env={"BATCH_MARK": "local", "BATCH_RECORD": str(tmp_path / "events")}
    )
    yield function
    function.stop()


def handler_module_events(function: LambdaFunction) -> list:
    """The events the handler recorded (in its own process)."""
    with open(function.env["BATCH_RECORD"], encoding="utf-8") as record:
        return [json.loads(line) for line in record]


def remaining(sqs, url) -> list[str]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return sorted(message["Body"] for message in messages)


def source_for(queue, function, report=True) -> SqsEventSource:
    sqs, url, arn, _ = queue
    return SqsEventSource(sqs, url, arn, function.invoke, report_batch_item_failures=report, batch_size=10)


def test_event_shape_and_partial_batch_failure(queue, batch_function):
    sqs, url, arn, _ = queue
    sqs.send_message(
        QueueUrl=url, MessageBody="ok", MessageAttributes={"kind": {"DataType": "String", "StringValue": "x"}}
    )
    sqs.send_message(QueueUrl=url, MessageBody="fail")
    sqs.send_message(QueueUrl=url, MessageBody="ok")
    assert source_for(queue, batch_function).poll_once() == 3
    (event,) = handler_module_events(batch_function)
    assert event["mark"] == "local"  # the function's own environment
    records = event["Records"]
    assert sorted(record["body"] for record in records) == ["fail", "ok", "ok"]
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == arn
        assert record["awsRegion"] == "us-east-1"
        assert record["messageId"] and record["receiptHandle"] and record["md5OfBody"]
        assert record["attributes"]["ApproximateReceiveCount"] == "1"
        assert "SentTimestamp" in record["attributes"]
    tagged = next(record for record in records if record["messageAttributes"])
    assert tagged["messageAttributes"]["kind"]["stringValue"] == "x"
    assert tagged["messageAttributes"]["kind"]["dataType"] == "String"
    assert remaining(sqs, url) == ["fail"]  # only the reported failure stays


@pytest.mark.parametrize("bad", ["crash", "bogus"], ids=["a raising function", "an unknown item identifier"])
def test_these_fail_the_whole_batch(queue, batch_function, bad):
    sqs, url, _, _ = queue
    for body in ("ok", bad):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    source_for(queue, batch_function).poll_once()
    assert remaining(sqs, url) == sorted(["ok", bad])


def test_without_report_batch_item_failures_a_success_deletes_everything(queue, batch_function):
    sqs, url, _, _ = queue
    for body in ("ok", "fail"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    source_for(queue, batch_function, report=False).poll_once()
    assert remaining(sqs, url) == []


def test_a_timed_out_invocation_keeps_the_whole_batch(queue, batch_function):
    sqs, url, _, _ = queue
    batch_function.timeout_seconds = 1
    for body in ("ok", "hang"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    started = time.monotonic()
    source_for(queue, batch_function).poll_once()
    assert time.monotonic() - started < 10
    assert remaining(sqs, url) == ["hang", "ok"]  # back after the visibility timeout (0 here)


def test_failures_end_in_the_dead_letter_queue_and_the_thread_stops(queue, batch_function):
    sqs, url, _, dead = queue
    sqs.send_message(QueueUrl=url, MessageBody="fail")
    sqs.send_message(QueueUrl=url, MessageBody="ok")
    source = source_for(queue, batch_function)
    source.start()
    try:
        deadline = time.monotonic() + 15
        moved: list[str] = []
        while time.monotonic() < deadline and not moved:
            moved = remaining(sqs, dead)
            time.sleep(0.1)
    finally:
        source.stop()
    assert not source.running
    assert moved == ["fail"]
    assert remaining(sqs, url) == []
