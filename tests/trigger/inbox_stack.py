"""A moto-backed deployment for the trigger and notify functions (shared by tests/trigger and tests/notify).

Built from template.yaml's own properties: the jobs table (key schema, TTL), the bucket with its
``inbox/`` notification to the inbox queue (moto delivers real S3 events to it), and both queues with
their dead-letter queues and maxReceiveCount. Handlers are the real ``functions/*/app.py`` modules,
invoked with SQS events built from messages received from those queues, the way the Lambda event
source mapping does it (succeeded records deleted, failed ones left in flight). Providers are the
loopback fakes; their webhooks reach a loopback receiver and are handed to the callback function.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from moto import mock_aws

from swapgate.gateway import Gateway
from swapgate.providers import registry
from swapgate_dev.fakes import WebhookReceiver
from swapgate_dev.local.cfn import load_template
from swapgate_dev.local.sqs import sqs_event
from swapgate_dev.testing import api_event, lambda_context, load_function, proxy_answer

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "tests" / "fixtures" / "faces"
EVENTS = ROOT / "tests" / "events"
ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "swapgate-test-bucket"
TABLE = "swapgate-test-jobs"
API_KEY = "client-key-1"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"swapgate-test-webhook-secret-32b").decode()
QUEUES = {  # logical id -> test queue name
    "InboxQueue": "swapgate-inbox",
    "InboxDeadLetterQueue": "swapgate-inbox-dlq",
    "NotifyQueue": "swapgate-notify",
    "NotifyDeadLetterQueue": "swapgate-notify-dlq",
}


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

    def run_notify(self) -> dict:
        """Hand every message waiting on the notify queue to the notify function."""
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

        queue = sqs_backends[ACCOUNT][REGION].get_queue(QUEUES[logical_id])
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
        received = self.callbacks.wait_for(self.delivered + count, timeout=timeout)[self.delivered :]
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


def _create_queues(sqs: Any, resources: dict) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    urls, arns, redrive = {}, {}, {}
    for logical_id in ("InboxDeadLetterQueue", "NotifyDeadLetterQueue", "InboxQueue", "NotifyQueue"):
        props = resources[logical_id]["Properties"]
        attributes = {}
        if "VisibilityTimeout" in props:
            attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        policy = props.get("RedrivePolicy")
        if policy:
            target = policy["deadLetterTargetArn"]["Fn::GetAtt"][0]
            redrive[logical_id] = int(policy["maxReceiveCount"])
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[target], "maxReceiveCount": str(policy["maxReceiveCount"])}
            )
        urls[logical_id] = sqs.create_queue(QueueName=QUEUES[logical_id], Attributes=attributes)["QueueUrl"]
        arns[logical_id] = sqs.get_queue_attributes(QueueUrl=urls[logical_id], AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    return urls, arns, redrive


def _configure_inbox_notifications(s3: Any, resources: dict, arns: dict[str, str]) -> None:
    config = resources["Bucket"]["Properties"]["NotificationConfiguration"]
    queue_configs = []
    for entry in config["QueueConfigurations"]:
        queue_configs.append(
            {
                "QueueArn": arns[entry["Queue"]["Fn::GetAtt"][0]],
                "Events": [entry["Event"]],
                "Filter": {"Key": {"FilterRules": entry["Filter"]["S3Key"]["Rules"]}},
            }
        )
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": queue_configs}
    )


@contextlib.contextmanager
def running_stack(monkeypatch, fake_aifaceswap, fake_ttapi) -> Iterator[Stack]:
    with WebhookReceiver() as callbacks:
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "SWAPGATE_BUCKET": BUCKET,
            "SWAPGATE_TABLE": TABLE,
            "SWAPGATE_API_KEYS": API_KEY,
            "SWAPGATE_SIGNING_SECRET": "test-signing-secret-" + secrets.token_hex(8),
            "SWAPGATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "SWAPGATE_ALLOW_PRIVATE_URLS": "1",
            "SWAPGATE_PROVIDER": "aifaceswap",
            "SWAPGATE_PUBLIC_URL": callbacks.base_url,
            "AIFACESWAP_API_KEY": "test-key",
            "AIFACESWAP_BASE_URL": fake_aifaceswap.base_url,
            "TTAPI_API_KEY": "test-key",
            "TTAPI_BASE_URL": fake_ttapi.base_url,
            "POWERTOOLS_METRICS_NAMESPACE": "SwapgateTest",
            "POWERTOOLS_SERVICE_NAME": "swapgate",
            "POWERTOOLS_TRACE_DISABLED": "1",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for name in ("SWAPGATE_STATE_MACHINE_ARN", "AWS_ENDPOINT_URL", "SWAPGATE_WEBHOOK_SECRET_PARAM"):
            monkeypatch.delenv(name, raising=False)
        registry.clear_cache()
        with mock_aws():
            resources = load_template(ROOT / "template.yaml")["Resources"]
            table_props = resources["JobsTable"]["Properties"]
            table = boto3.resource("dynamodb").create_table(
                TableName=TABLE,
                KeySchema=table_props["KeySchema"],
                AttributeDefinitions=table_props["AttributeDefinitions"],
                BillingMode=table_props["BillingMode"],
            )
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            sqs = boto3.client("sqs")
            urls, arns, redrive = _create_queues(sqs, resources)
            _configure_inbox_notifications(s3, resources, arns)
            monkeypatch.setenv("SWAPGATE_NOTIFY_QUEUE_URL", urls["NotifyQueue"])
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
            )
        registry.clear_cache()
