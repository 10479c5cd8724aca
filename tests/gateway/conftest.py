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
from swapgate_dev.testing import (
    Answer,
    api_event,
    deploy_template,
    harness_environment,
    lambda_context,
    load_function,
    proxy_answer,
)

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
        received = self.callbacks.wait_for(self.delivered + count, timeout=timeout)[
            self.delivered : self.delivered + count
        ]
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


@pytest.fixture
def deployment(monkeypatch, fake_aifaceswap, fake_ttapi) -> Iterator[Deployment]:
    with WebhookReceiver() as callbacks:
        env = harness_environment(
            bucket=BUCKET,
            table=TABLE,
            public_url=callbacks.base_url,
            aifaceswap_url=fake_aifaceswap.base_url,
            ttapi_url=fake_ttapi.base_url,
            api_keys=f"{API_KEY},{OTHER_API_KEY}",
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for name in ("SWAPGATE_STATE_MACHINE_ARN", "SWAPGATE_NOTIFY_QUEUE_URL", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
        registry.clear_cache()
        with mock_aws(config=MOTO_CONFIG):
            deploy_template(BUCKET, TABLE)
            s3, table = boto3.client("s3"), boto3.resource("dynamodb").Table(TABLE)
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
