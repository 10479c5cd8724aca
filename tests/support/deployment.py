"""template.yaml deployed in moto with the real functions wired to it, for the gateway, trigger and
notify tests.

The resources come from the local stack's own provisioning of the template (the jobs table with its key
schema, TTL and change stream, the bucket with its ``inbox/`` notification to the inbox queue, the
queues with their dead-letter queues and maxReceiveCount, the poller state machine): the tests run
against what the template defines, not a copy. Handlers are the real ``functions/*/app.py`` modules.
API requests and provider callbacks reach them as API Gateway proxy events; queue messages as the SQS
event source mapping hands them over (succeeded records deleted, failed ones left in flight); the jobs
table's stream records as its event source mapping hands them to the job-events function
(``swapgate_dev.streams``: the template's filter, partial batch failures). Providers are the loopback
fakes; their webhooks reach a loopback receiver and are handed to the callback function.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
from moto import mock_aws
from swapgate.providers import registry
from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi, WebhookReceiver
from swapgate_dev.local.provision import deploy, plan
from swapgate_dev.local.sam import SamTemplate
from swapgate_dev.local.sqs import sqs_event
from swapgate_dev.streams import StreamSource, stream_mappings

from support.functions import (
    ACCOUNT,
    REGION,
    ROOT,
    TEMPLATE,
    Answer,
    api_event,
    lambda_context,
    load_function,
    proxy_answer,
)

FACES = ROOT / "tests" / "fixtures" / "faces"
EVENTS = ROOT / "tests" / "events"
BUCKET = "swapgate-test"
TABLE = "swapgate-test-jobs"
API_KEY = "client-key-1"
OTHER_API_KEY = "client-key-2"
PROVIDER_KEY = "test-key"  # what the provider fakes accept
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"swapgate-test-webhook-secret-32b").decode()
#: moto runs Step Functions executions for real; the poller tests route their Lambda invocations
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def harness_environment(*, public_url: str, aifaceswap_url: str, ttapi_url: str) -> dict[str, str]:
    """The functions' environment in tests: moto credentials, the loopback fakes as providers, provider
    callbacks to ``public_url``, and private URLs allowed."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "SWAPGATE_BUCKET": BUCKET,
        "SWAPGATE_TABLE": TABLE,
        "SWAPGATE_API_KEYS": f"{API_KEY},{OTHER_API_KEY}",
        "SWAPGATE_SIGNING_SECRET": "test-signing-secret-" + secrets.token_hex(8),
        "SWAPGATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SWAPGATE_ALLOW_PRIVATE_URLS": "1",
        "SWAPGATE_PROVIDER": "aifaceswap",
        "SWAPGATE_PUBLIC_URL": public_url,
        "AIFACESWAP_API_KEY": PROVIDER_KEY,
        "AIFACESWAP_BASE_URL": aifaceswap_url,
        "TTAPI_API_KEY": PROVIDER_KEY,
        "TTAPI_BASE_URL": ttapi_url,
        "POWERTOOLS_METRICS_NAMESPACE": "SwapgateTest",
        "POWERTOOLS_SERVICE_NAME": "swapgate",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }


@dataclass
class Deployment:
    s3: Any
    sqs: Any
    table: Any
    queue_urls: dict[str, str]
    queue_arns: dict[str, str]
    redrive: dict[str, int]  # maxReceiveCount by queue
    callbacks: WebhookReceiver
    job_stream: StreamSource
    delivered: int = 0
    _functions: dict[str, ModuleType] = field(default_factory=dict)

    # --- functions ----------------------------------------------------------------------------------

    def function(self, name: str) -> ModuleType:
        """The execution environment of ``functions/<name>``, imported on first use."""
        if name not in self._functions:
            self._functions[name] = load_function(name)
        return self._functions[name]

    def reload(self) -> None:
        """New execution environments for the functions used so far (after the environment changed)."""
        for name in self._functions:
            self._functions[name] = load_function(name)

    @property
    def api_module(self) -> ModuleType:
        return self.function("api")

    @property
    def callback_module(self) -> ModuleType:
        return self.function("callback")

    @property
    def poll_module(self) -> ModuleType:
        return self.function("poll")

    @property
    def trigger_module(self) -> ModuleType:
        return self.function("trigger")

    @property
    def notify_module(self) -> ModuleType:
        return self.function("notify")

    @property
    def job_events_module(self) -> ModuleType:
        return self.function("job_events")

    # --- API Gateway --------------------------------------------------------------------------------

    def api(
        self, method: str, path: str, *, resource: str | None = None, key: str | None = API_KEY, **kwargs
    ) -> Answer:
        headers = dict(kwargs.pop("headers", None) or {})
        if key is not None:
            headers.setdefault("x-api-key", key)
        event = api_event(method, path, resource=resource or path, headers=headers, **kwargs)
        return proxy_answer(self.api_module.handler(event, lambda_context()))

    def submit_swap(self, fake: Any, provider: str = "aifaceswap") -> str:
        """POST /v1/swaps of two images on ``fake``'s CDN to ``provider``; the accepted job's id."""
        body = {
            "source_image": f"{fake.base_url}/a.png",
            "face_image": f"{fake.base_url}/b.png",
            "provider": provider,
        }
        answer = self.api("POST", "/v1/swaps", json_body=body)
        assert answer.status == 202, answer.body
        return answer.body["id"]

    def callback(self, path_with_query: str, body: bytes | str) -> Answer:
        path = path_with_query.split("?", 1)[0]
        _, provider, job_id = path.strip("/").split("/")
        event = api_event(
            "POST",
            path_with_query,
            resource="/callbacks/{provider}/{job_id}",
            headers={"Content-Type": "application/json"},
            data=body,
        )
        assert event["pathParameters"] == {"provider": provider, "job_id": job_id}
        return proxy_answer(self.callback_module.handler(event, lambda_context()))

    def deliver_callbacks(self, count: int, timeout: float = 10.0) -> list[Answer]:
        """Wait for ``count`` more provider webhooks on the loopback receiver and hand each to the callback
        function exactly as API Gateway would."""
        received = self.callbacks.wait_for(self.delivered + count, timeout=timeout)[
            self.delivered : self.delivered + count
        ]
        self.delivered += count
        return [self.callback(hook.path, hook.body) for hook in received]

    # --- the poller ---------------------------------------------------------------------------------

    def poll(self, event: dict) -> dict:
        return self.poll_module.handler(event, lambda_context())

    # --- queues -------------------------------------------------------------------------------------

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
        """Hand the jobs table's new stream records (jobs that ended) to the job-events function, which
        publishes results and queues notifications; a failed record comes again on the next call."""
        return self.job_stream.pump(lambda event: self.job_events_module.handler(event, lambda_context()))

    def run_notify(self) -> dict:
        """Hand every message waiting on the notify queue to the notify function (after the job-events
        function has handled the stream's new records: on AWS both run on their own)."""
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

    # --- S3 and the jobs table ----------------------------------------------------------------------

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

    def expire_idempotency(self, record_ids: Iterable[str] | None = None, *, in_progress: bool = True) -> int:
        """Time passes for Idempotency-Key records (``record_ids``, or every one in the table): one
        left in progress by a dead invocation expires with that invocation's time; with
        ``in_progress=False`` a saved one's 24 hours run out. Returns how many expired."""
        status, attribute, past = (
            ("INPROGRESS", "in_progress_expiration", int(time.time() * 1000) - 1)
            if in_progress
            else ("COMPLETED", "expires_at", int(time.time()) - 1)
        )
        if record_ids is None:
            record_ids, page = [], {"LastEvaluatedKey": None}
            while "LastEvaluatedKey" in page:
                start = {"ExclusiveStartKey": page["LastEvaluatedKey"]} if page["LastEvaluatedKey"] else {}
                page = self.table.scan(
                    FilterExpression="#s = :status",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":status": status},
                    ConsistentRead=True,
                    **start,
                )
                record_ids += [item["id"] for item in page["Items"]]
        expired, other = 0, self.table.meta.client.exceptions.ConditionalCheckFailedException
        for record_id in record_ids:
            with contextlib.suppress(other):  # no longer in that state: saved, or deleted
                self.table.update_item(
                    Key={"id": record_id},
                    UpdateExpression=f"SET {attribute} = :past",
                    ConditionExpression="#s = :status",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":past": past, ":status": status},
                )
                expired += 1
        return expired

    def job(self, job_id: str) -> dict:
        return self.table.get_item(Key={"id": job_id}, ConsistentRead=True)["Item"]

    def jobs(self) -> list[dict]:
        items = self.table.scan(ConsistentRead=True)["Items"]
        return [item for item in items if "operation" in item]


@contextlib.contextmanager
def deployed(
    monkeypatch,
    fake_aifaceswap: FakeAifaceswap,
    fake_ttapi: FakeTtapi,
    *,
    notify_queue: bool,
    functions: Iterable[str],
) -> Iterator[Deployment]:
    """The deployment with the fakes behind it. With ``notify_queue`` the job-events function queues
    ended jobs' notifications on the notify queue (``SWAPGATE_NOTIFY_QUEUE_URL``); without it, nothing
    is notified. ``functions`` are imported now; the others on first use."""
    with WebhookReceiver() as callbacks:
        env = harness_environment(
            public_url=callbacks.base_url,
            aifaceswap_url=fake_aifaceswap.base_url,
            ttapi_url=fake_ttapi.base_url,
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for name in (
            "SWAPGATE_STATE_MACHINE_ARN",
            "SWAPGATE_NOTIFY_QUEUE_URL",
            "AWS_ENDPOINT_URL",
            "SWAPGATE_WEBHOOK_SECRET_PARAM",
            "SWAPGATE_ENGINE_FUNCTION",  # builtin jobs run in this process's threads
        ):
            monkeypatch.delenv(name, raising=False)
        registry.clear_cache()
        with mock_aws(config=MOTO_CONFIG):
            template = SamTemplate(TEMPLATE)
            created = deploy(
                plan(template, endpoint_url=None, physical_names={"Bucket": BUCKET, "JobsTable": TABLE})
            )
            redrive = {
                logical_id: int(properties["RedrivePolicy"]["maxReceiveCount"])
                for logical_id in created.queue_urls
                if "RedrivePolicy" in (properties := template.properties(logical_id))
            }
            if notify_queue:
                monkeypatch.setenv("SWAPGATE_NOTIFY_QUEUE_URL", created.queue_urls["NotifyQueue"])
            (mapping,) = stream_mappings(template)
            # botocore sends calls naming a stream ARN to an account endpoint (<account>.streams-ddb...)
            # that moto does not serve: name the regional one
            streams = boto3.client(
                "dynamodbstreams", endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com"
            )
            job_stream = StreamSource.for_table(streams, boto3.client("dynamodb"), TABLE, mapping)
            deployment = Deployment(
                s3=boto3.client("s3"),
                sqs=boto3.client("sqs"),
                table=boto3.resource("dynamodb").Table(TABLE),
                queue_urls=dict(created.queue_urls),
                queue_arns=dict(created.queue_arns),
                redrive=redrive,
                callbacks=callbacks,
                job_stream=job_stream,
            )
            for name in functions:
                deployment.function(name)
            yield deployment
        registry.clear_cache()
