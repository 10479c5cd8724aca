"""A moto-backed deployment for the gateway's handlers: the bucket and the jobs table are created from
template.yaml's own properties, the handlers are the real ``functions/*/app.py`` modules, and the
providers are the loopback fakes."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from moto import mock_aws

from swapgate.providers import registry
from swapgate_dev.fakes import WebhookReceiver
from swapgate_dev.local.cfn import load_template

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "tests" / "fixtures" / "faces"
API_KEY = "client-key-1"
OTHER_API_KEY = "client-key-2"
BUCKET = "swapgate-test"
#: moto runs Step Functions executions for real; Lambda invocations are routed by the poller tests
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
TABLE = "swapgate-test-jobs"


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` under its own module name, as Lambda would run it."""
    folder = ROOT / "functions" / name
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    for module_name, module in list(sys.modules.items()):  # a fresh execution environment
        if str(getattr(module, "__file__", "") or "").startswith(str(folder)):
            del sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(f"swapgate_fn_{name}", folder / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


class LambdaContext:
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def api_event(method: str, url: str, *, resource: str, headers=None, json_body=None, files=None, data=None):
    """An API Gateway REST proxy event for a request ``requests`` would send."""
    prepared = requests.Request(
        method, "https://api.test" + url, headers=headers, json=json_body, files=files, data=data
    )
    prepared = prepared.prepare()
    parts = urlsplit(prepared.url)
    query = parse_qs(parts.query)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    binary = (prepared.headers.get("Content-Type") or "").startswith("multipart/")
    path_params = _path_parameters(resource, parts.path)
    return {
        "resource": resource,
        "path": parts.path,
        "httpMethod": method,
        "headers": dict(prepared.headers),
        "multiValueHeaders": {k: [v] for k, v in prepared.headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_params or None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": "/test" + parts.path,
            "stage": "test",
            "domainName": "api.test",
            "requestId": uuid.uuid4().hex,
            "identity": {"sourceIp": "203.0.113.9"},
        },
        "body": base64.b64encode(body).decode() if binary else (body.decode() or None),
        "isBase64Encoded": binary,
    }


def _path_parameters(resource: str, path: str) -> dict[str, str]:
    params = {}
    for template_part, part in zip(resource.strip("/").split("/"), path.strip("/").split("/"), strict=False):
        if template_part.startswith("{"):
            params[template_part.strip("{}+")] = part
    return params


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
        return self._answer(self.api_module.handler(event, LambdaContext()))

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
        return self._answer(self.callback_module.handler(event, LambdaContext()))

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
        return self.poll_module.handler(event, LambdaContext())

    def job(self, job_id: str) -> dict:
        return self.table.get_item(Key={"id": job_id})["Item"]

    def keys(self, prefix: str) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for item in listing.get("Contents", [])]

    @staticmethod
    def _answer(response: dict) -> Answer:
        headers = {
            k: v[-1] if isinstance(v, list) else v
            for k, v in (response.get("multiValueHeaders") or {}).items()
        }
        headers.update(response.get("headers") or {})
        body = response.get("body") or ""
        if response.get("isBase64Encoded"):
            body = base64.b64decode(body)
        with contextlib.suppress(TypeError, ValueError):
            body = json.loads(body)
        return Answer(int(response["statusCode"]), headers, body)


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
