"""The trigger function's shell: SQS message -> S3 event records -> one ``handle_object`` call each."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from support import EVENTS, load_function
from swapgate.inbox import Outcome


class RecordingInbox:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def handle_object(self, **event) -> Outcome:
        self.calls.append(event)
        return Outcome(event["key"], "started", job_ids=["job_1"])


@pytest.fixture
def app(monkeypatch):
    module = load_function("trigger")
    recorder = RecordingInbox()
    monkeypatch.setattr(module, "inbox", lambda: recorder)
    module.recorder = recorder
    return module


def example_records() -> list[dict]:
    return json.loads((EVENTS / "trigger_s3_sqs.json").read_text())["Records"]


def message(body) -> SQSRecord:
    record = dict(example_records()[0])
    record["body"] = body if isinstance(body, str) else json.dumps(body)
    return SQSRecord(record)


def s3_record(event_name: str = "ObjectCreated:Put", source: str = "aws:s3", **obj) -> dict:
    return {
        "eventSource": source,
        "eventName": event_name,
        "s3": {"bucket": {"name": "bucket-1"}, "object": {"key": "inbox/a.json", **obj}},
    }


def test_the_example_event_reaches_the_inbox_with_a_decoded_key(app):
    manifest, test_event = (SQSRecord(r) for r in example_records())

    assert app.record_handler(manifest) == [
        {"key": "inbox/team a/batch(1).json", "action": "started", "jobs": ["job_1"]}
    ]
    assert app.record_handler(test_event) == []
    assert app.recorder.calls == [
        {
            "bucket": "swapgate-dev-0123abcd",
            "key": "inbox/team a/batch(1).json",
            "etag": "0123456789abcdef0123456789abcdef",
            "sequencer": "0065A4F1B2C3D4E5F6",
            "size": 212,
        }
    ]


def test_only_created_objects_from_s3_count_and_optional_fields_may_be_missing(app):
    body = {
        "Records": [
            s3_record("ObjectRemoved:Delete"),
            s3_record(source="aws:sqs"),
            s3_record("ObjectCreated:CompleteMultipartUpload", key="inbox/b+c%2B.json"),
        ]
    }

    (created,) = app.created_objects(message(body))
    app.handle_created(created)

    assert app.recorder.calls == [
        {"bucket": "bucket-1", "key": "inbox/b c+.json", "etag": None, "sequencer": None, "size": None}
    ]


@pytest.mark.parametrize("body", ["not json {", "[1, 2]", "{}", '{"Records": null}', '"text"'])
def test_messages_that_are_not_s3_events_are_dropped(app, body):
    assert app.created_objects(message(body)) == []
    assert app.record_handler(message(body)) == [] and app.recorder.calls == []
