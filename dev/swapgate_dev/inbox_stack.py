"""A moto-backed deployment for the trigger and notify functions (tests/trigger and tests/notify use its
``stack`` fixture, registered as a pytest plugin in tests/conftest.py).

Built from template.yaml's own properties: the jobs table (key schema, TTL, its change stream), the
bucket with its ``inbox/`` notification to the inbox queue (moto delivers real S3 events to it), and
both queues with their dead-letter queues and maxReceiveCount. Handlers are the real
``functions/*/app.py`` modules, invoked with SQS events built from messages received from those
queues, the way the Lambda event source mapping does it (succeeded records deleted, failed ones left
in flight), and the job-events function with the jobs table's stream records
(``swapgate_dev.streams``, the template's filter applied). Providers are the loopback fakes; their
webhooks reach a loopback receiver and are handed to the callback function.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from swapgate.gateway import Gateway
from swapgate.providers import registry
from swapgate_dev.fakes import WebhookReceiver
from swapgate_dev.local.sqs import sqs_event
from swapgate_dev.streams import StreamSource, stream_mappings
from swapgate_dev.testing import (
    ROOT,
    api_event,
    deploy_template,
    harness_environment,
    lambda_context,
    load_function,
    proxy_answer,
)

FACES = ROOT / "tests" / "fixtures" / "faces"
EVENTS = ROOT / "tests" / "events"
ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "swapgate-test-bucket"
TABLE = "swapgate-test-jobs"
API_KEY = "client-key-1"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"swapgate-test-webhook-secret-32b").decode()


def _answer(response: dict) -> tuple[int, Any]:
    answer = proxy_answer(response)
    return answer.status, answer.body


@dataclass
class Stack:
    s3: Any
    sqs: Any
    table: Any
    queue_urls: dict[str, str]
    queue_arns: dict[str, str]
    callbacks: WebhookReceiver
    trigger_module: ModuleType
    notify_module: ModuleType
    callback_module: ModuleType
    redrive: dict[str, int]
    job_events_module: ModuleType
    job_stream: StreamSource
    api_module: ModuleType | None = None
    delivered: int = field(default=0)

    # --- S3 ---------------------------------------------------------------------------------------

    def put(self, key: str, body: bytes | str | dict | list) -> dict:
        if isinstance(body, dict | list):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        return self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)

    def put_face(self, key: str, name: str = "grace_hopper.jpg") -> str:
        self.put(key, (FACES / name).read_bytes())
        return key

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read_json(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())

    # --- queues and handlers ----------------------------------------------------------------------

    def receive(self, logical_id: str, max_messages: int = 10) -> list[dict]:
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_urls[logical_id],
            MaxNumberOfMessages=max_messages,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        return answer.get("Messages", [])

    def send(self, logical_id: str, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.queue_urls[logical_id], MessageBody=body)

    def invoke(self, module: ModuleType, logical_id: str, messages: list[dict]) -> dict:
        """Invoke a handler with ``messages``; delete the records it did not report as failed."""
        event = sqs_event(messages, self.queue_arns[logical_id], REGION)
        response = module.handler(event, lambda_context())
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_urls[logical_id], ReceiptHandle=message["ReceiptHandle"]
                )
        return response

    def run_trigger(self) -> dict:
        """Hand every message waiting on the inbox queue to the trigger function."""
        return self.invoke(self.trigger_module, "InboxQueue", self.receive("InboxQueue"))

    def run_events(self) -> list[dict]:
        """Hand the jobs table's new stream records (jobs that ended) to the job-events function,
        which queues their notifications; a failed record comes again on the next call."""
        return self.job_stream.pump(lambda event: self.job_events_module.handler(event, lambda_context()))

    def run_notify(self) -> dict:
        """Hand every message waiting on the notify queue to the notify function (after the
        job-events function has handled the stream's new records: on AWS both run on their own)."""
        self.run_events()
        return self.invoke(self.notify_module, "NotifyQueue", self.receive("NotifyQueue"))

    def depth(self, logical_id: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_urls[logical_id],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def invisible_for(self, logical_id: str) -> list[float]:
        """Seconds until each in-flight message of the queue is visible again (read from moto)."""
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[ACCOUNT][REGION].get_queue(self.queue_urls[logical_id].rsplit("/", 1)[1])
        now_ms = time.time() * 1000
        return [(m.visible_at - now_ms) / 1000 for m in queue._messages if m.visible_at > now_ms]

    def make_visible(self, logical_id: str, message: dict) -> None:
        """Let the queue's retry happen now (as if the backoff delay had passed)."""
        self.sqs.change_message_visibility(
            QueueUrl=self.queue_urls[logical_id], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    # --- providers ----------------------------------------------------------------------------------

    def callback(self, path_with_query: str, body: bytes | str) -> tuple[int, Any]:
        event = api_event(
            "POST",
            path_with_query,
            resource="/callbacks/{provider}/{job_id}",
            headers={"Content-Type": "application/json"},
            data=body,
        )
        return _answer(self.callback_module.handler(event, lambda_context()))

    def deliver_callbacks(self, count: int, timeout: float = 10.0) -> list[tuple[int, Any]]:
        """Wait for ``count`` more provider webhooks and hand each to the callback function."""
        received = self.callbacks.wait_for(self.delivered + count, timeout=timeout)[
            self.delivered : self.delivered + count
        ]
        self.delivered += count
        return [self.callback(hook.path, hook.body) for hook in received]

    def api(self, method: str, path: str, *, resource: str | None = None, json_body=None) -> tuple[int, Any]:
        if self.api_module is None:
            self.api_module = load_function("api")
        event = api_event(
            method, path, resource=resource or path, headers={"x-api-key": API_KEY}, json_body=json_body
        )
        return _answer(self.api_module.handler(event, lambda_context()))

    # --- records --------------------------------------------------------------------------------------

    def job(self, job_id: str) -> dict:
        return self.table.get_item(Key={"id": job_id}, ConsistentRead=True)["Item"]

    def jobs(self) -> list[dict]:
        items = self.table.scan(ConsistentRead=True)["Items"]
        return [item for item in items if "operation" in item]

    def gateway(self) -> Gateway:
        return Gateway.from_env()


@contextlib.contextmanager
def running_stack(monkeypatch, fake_aifaceswap, fake_ttapi) -> Iterator[Stack]:
    with WebhookReceiver() as callbacks:
        env = harness_environment(
            bucket=BUCKET,
            table=TABLE,
            public_url=callbacks.base_url,
            aifaceswap_url=fake_aifaceswap.base_url,
            ttapi_url=fake_ttapi.base_url,
            api_keys=API_KEY,
        ) | {
            "SWAPGATE_SIGNING_SECRET": "test-signing-secret-" + secrets.token_hex(8),
            "SWAPGATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for name in ("SWAPGATE_STATE_MACHINE_ARN", "AWS_ENDPOINT_URL", "SWAPGATE_WEBHOOK_SECRET_PARAM"):
            monkeypatch.delenv(name, raising=False)
        registry.clear_cache()
        with mock_aws():
            deployment = deploy_template(BUCKET, TABLE)
            table = boto3.resource("dynamodb").Table(TABLE)
            s3, sqs = boto3.client("s3"), boto3.client("sqs")
            queues = ("InboxQueue", "InboxDeadLetterQueue", "NotifyQueue", "NotifyDeadLetterQueue")
            urls = {logical_id: deployment.queue_urls[logical_id] for logical_id in queues}
            arns = {logical_id: deployment.queue_arns[logical_id] for logical_id in queues}
            redrive = {
                logical_id: int(
                    deployment.template.resources[logical_id]["Properties"]["RedrivePolicy"][
                        "maxReceiveCount"
                    ]
                )
                for logical_id in ("InboxQueue", "NotifyQueue")
            }
            monkeypatch.setenv("SWAPGATE_NOTIFY_QUEUE_URL", urls["NotifyQueue"])
            (mapping,) = stream_mappings(deployment.template)
            # botocore sends stream ARN calls to an account endpoint (<account>.streams-ddb...) moto
            # does not serve: name the regional one
            streams = boto3.client(
                "dynamodbstreams", endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com"
            )
            job_stream = StreamSource.for_table(streams, boto3.client("dynamodb"), TABLE, mapping)
            yield Stack(
                s3=s3,
                sqs=sqs,
                table=table,
                queue_urls=urls,
                queue_arns=arns,
                callbacks=callbacks,
                trigger_module=load_function("trigger"),
                notify_module=load_function("notify"),
                callback_module=load_function("callback"),
                redrive=redrive,
                job_events_module=load_function("job_events"),
                job_stream=job_stream,
            )
        registry.clear_cache()


@pytest.fixture
def stack(monkeypatch, fake_aifaceswap, fake_ttapi) -> Iterator[Stack]:
    """The trigger/notify deployment with the provider fakes behind it."""
    with running_stack(monkeypatch, fake_aifaceswap, fake_ttapi) as running:
        yield running
