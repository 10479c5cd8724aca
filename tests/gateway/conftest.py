"""A moto-backed deployment for the gateway's handlers: the bucket and the jobs table are created from
template.yaml's own properties, the handlers are the real ``functions/*/app.py`` modules, and the
providers are the loopback fakes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from swapgate.providers import registry
from swapgate_dev.fakes import WebhookReceiver
from swapgate_dev.local.cfn import load_template
from swapgate_dev.testing import Answer, api_event, lambda_context, load_function, proxy_answer

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "tests" / "fixtures" / "faces"
API_KEY = "client-key-1"
OTHER_API_KEY = "client-key-2"
BUCKET = "swapgate-test"
#: moto runs Step Functions executions for real; Lambda invocations are routed by the poller tests
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
TABLE = "swapgate-test-jobs"


@dataclass
class Deployment:
    api_module: ModuleType
    callback_module: ModuleType
    poll_module: ModuleType
    s3: Any
    table: Any
    callbacks: WebhookReceiver
    delivered: int = field(default=0)

    def api(
        self, method: str, path: str, *, resource: str | None = None, key: str | None = API_KEY, **kwargs
    ) -> Answer:
        headers = dict(kwargs.pop("headers", None) or {})
        if key is not None:
            headers.setdefault("x-api-key", key)
        event = api_event(method, path, resource=resource or path, headers=headers, **kwargs)
        return proxy_answer(self.api_module.handler(event, lambda_context()))

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
        received = self.callbacks.wait_for(self.delivered + count, timeout=timeout)[self.delivered :]
        self.delivered += count
        return [self.callback(hook.path, hook.body) for hook in received]

    def reload(self) -> None:
        """New execution environments for every function (after the environment changed)."""
        self.api_module = load_function("api")
        self.callback_module = load_function("callback")
        self.poll_module = load_function("poll")

    def poll(self, event: dict) -> dict:
        return self.poll_module.handler(event, lambda_context())

    def job(self, job_id: str) -> dict:
        return self.table.get_item(Key={"id": job_id})["Item"]

    def keys(self, prefix: str) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for item in listing.get("Contents", [])]


def create_resources_from_template() -> tuple[Any, Any]:
    """The bucket and the table, with the properties template.yaml gives them."""
    resources = load_template(ROOT / "template.yaml")["Resources"]
    table_props = resources["JobsTable"]["Properties"]
    dynamodb = boto3.resource("dynamodb")
    table = dynamodb.create_table(
        TableName=TABLE,
        KeySchema=table_props["KeySchema"],
        AttributeDefinitions=table_props["AttributeDefinitions"],
        BillingMode=table_props["BillingMode"],
    )
    ttl = table_props["TimeToLiveSpecification"]
    boto3.client("dynamodb").update_time_to_live(TableName=TABLE, TimeToLiveSpecification=ttl)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    return s3, table


@pytest.fixture
def deployment(monkeypatch, fake_aifaceswap, fake_ttapi) -> Iterator[Deployment]:
    with WebhookReceiver() as callbacks:
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "SWAPGATE_BUCKET": BUCKET,
            "SWAPGATE_TABLE": TABLE,
            "SWAPGATE_API_KEYS": f"{API_KEY},{OTHER_API_KEY}",
            "SWAPGATE_SIGNING_SECRET": "test-signing-secret",
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
        for name in ("SWAPGATE_STATE_MACHINE_ARN", "SWAPGATE_NOTIFY_QUEUE_URL", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
        registry.clear_cache()
        with mock_aws(config=MOTO_CONFIG):
            s3, table = create_resources_from_template()
            yield Deployment(
                api_module=load_function("api"),
                callback_module=load_function("callback"),
                poll_module=load_function("poll"),
                s3=s3,
                table=table,
                callbacks=callbacks,
            )
        registry.clear_cache()


@pytest.fixture
def face_bytes() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in FACES.iterdir() if path.suffix in (".png", ".jpg")}
