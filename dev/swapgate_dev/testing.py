"""Run the real functions in-process, as Lambda and API Gateway would hand them events, for tests.

``load_function`` imports ``functions/<name>/app.py`` as a fresh execution environment,
``api_event`` builds the REST proxy event for a request as ``requests`` would send it, and
``proxy_answer`` reads a proxy response back; ``deploy_template`` creates the template's resources
in moto and ``harness_environment`` is the functions' environment against the provider fakes. SQS events come from ``swapgate_dev.local.sqs`` and the
context object from ``swapgate_dev.local.runtime``: the local stack and the tests build them alike.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from swapgate_dev.local.provision import Deployment, deploy, plan
from swapgate_dev.local.runtime import LambdaContext
from swapgate_dev.local.sam import SamTemplate

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"

__all__ = [
    "ROOT",
    "Answer",
    "api_event",
    "deploy_template",
    "harness_environment",
    "lambda_context",
    "load_function",
    "proxy_answer",
]


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` under its own module name, with fresh sibling modules."""
    folder = ROOT / "functions" / name
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    for module_name, module in list(sys.modules.items()):  # a fresh execution environment
        if str(getattr(module, "__file__", "") or "").startswith(str(folder) + "/"):
            del sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(f"swapgate_fn_{name}", folder / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_context(name: str = "test") -> LambdaContext:
    return LambdaContext(
        function_name=name,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        memory_limit_in_mb=512,
        timeout_seconds=60,
    )


def api_event(
    method: str, url: str, *, resource: str, headers=None, json_body=None, files=None, data=None
) -> dict:
    """The REST proxy event for the request ``requests`` would send (multipart bodies base64-encoded,
    as the template's BinaryMediaTypes make API Gateway do)."""
    prepared = requests.Request(
        method, "https://api.test" + url, headers=headers, json=json_body, files=files, data=data
    ).prepare()
    parts = urlsplit(prepared.url)
    query = parse_qs(parts.query)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    binary = (prepared.headers.get("Content-Type") or "").startswith("multipart/")
    path_parameters = {
        template.strip("{}+"): part
        for template, part in zip(
            resource.strip("/").split("/"), parts.path.strip("/").split("/"), strict=False
        )
        if template.startswith("{")
    }
    return {
        "resource": resource,
        "path": parts.path,
        "httpMethod": method,
        "headers": dict(prepared.headers),
        "multiValueHeaders": {k: [v] for k, v in prepared.headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None,
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


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def proxy_answer(response: dict) -> Answer:
    """A proxy integration response: status, headers, and the body (parsed when it is JSON)."""
    headers = {
        k: v[-1] if isinstance(v, list) else v for k, v in (response.get("multiValueHeaders") or {}).items()
    }
    headers.update(response.get("headers") or {})
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body)
    with contextlib.suppress(TypeError, ValueError):
        body = json.loads(body)
    return Answer(int(response["statusCode"]), headers, body)


def deploy_template(bucket: str, table: str) -> Deployment:
    """Every resource of template.yaml, created in the active ``moto.mock_aws`` by the local stack's own
    provisioning (key schema, TTL, lifecycle, the inbox notification, queues with their redrive
    policies, the state machine): the tests run against what the template defines, not a copy."""
    template = SamTemplate(ROOT / "template.yaml")
    planned = plan(template, endpoint_url=None, physical_names={"Bucket": bucket, "JobsTable": table})
    return deploy(planned)


def harness_environment(
    *, bucket: str, table: str, public_url: str, aifaceswap_url: str, ttapi_url: str, api_keys: str
) -> dict[str, str]:
    """The functions' environment in tests: moto credentials, the loopback fakes as providers (their
    key is ``test-key``), provider callbacks to ``public_url``, and private URLs allowed."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "SWAPGATE_BUCKET": bucket,
        "SWAPGATE_TABLE": table,
        "SWAPGATE_API_KEYS": api_keys,
        "SWAPGATE_SIGNING_SECRET": "test-signing-secret",
        "SWAPGATE_ALLOW_PRIVATE_URLS": "1",
        "SWAPGATE_PROVIDER": "aifaceswap",
        "SWAPGATE_PUBLIC_URL": public_url,
        "AIFACESWAP_API_KEY": "test-key",
        "AIFACESWAP_BASE_URL": aifaceswap_url,
        "TTAPI_API_KEY": "test-key",
        "TTAPI_BASE_URL": ttapi_url,
        "POWERTOOLS_METRICS_NAMESPACE": "SwapgateTest",
        "POWERTOOLS_SERVICE_NAME": "swapgate",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
