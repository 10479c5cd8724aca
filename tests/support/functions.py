"""Run the real functions in-process, as Lambda and API Gateway would hand them events.

``load_function`` imports ``functions/<name>/app.py`` as a fresh execution environment with the local
stack's loader; ``api_event`` builds the REST proxy event for a request as ``requests`` would send it,
with the local API Gateway's builder; ``proxy_answer`` reads a proxy response back as that gateway
does. SQS events come from ``swapgate_dev.local.sqs``: the local stack and the tests build them alike.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from swapgate_dev.local.apigw import ApiSettings, Route, api_settings, proxy_event, proxy_response
from swapgate_dev.local.runtime import LambdaContext, load_handler
from swapgate_dev.local.sam import SamTemplate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"
SOURCE_IP = "203.0.113.9"
HOST = "api.test"


def load_function(name: str) -> ModuleType:
    """``functions/<name>/app.py`` imported afresh (its sibling modules too), as a new execution
    environment would import it."""
    module_name = f"swapgate_fn_{name}"
    load_handler(ROOT / "functions" / name / "app.py", "handler", module_name)
    # Taken out of sys.modules: the next load would keep it as an earlier environment's module, and
    # every test's copy would stay alive.
    return sys.modules.pop(module_name)


def lambda_context(name: str = "test") -> LambdaContext:
    return LambdaContext(
        function_name=name,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
        memory_limit_in_mb=512,
        timeout_seconds=60,
    )


@functools.cache
def _api() -> ApiSettings:
    return api_settings(SamTemplate(TEMPLATE))


def api_event(
    method: str, url: str, *, resource: str, headers=None, json_body=None, files=None, data=None
) -> dict:
    """The REST proxy event for the request ``requests`` would send to ``resource`` (bodies of the
    template's BinaryMediaTypes base64-encoded, as API Gateway does)."""
    prepared = requests.Request(
        method, f"https://{HOST}{url}", headers=headers, json=json_body, files=files, data=data
    ).prepare()
    parts = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    match = Route(resource, method, invoke=_not_invoked).pattern.match(unquote(parts.path))
    api = _api()
    return proxy_event(
        method,
        parts.path + (f"?{parts.query}" if parts.query else ""),
        [("Host", HOST), *prepared.headers.items()],
        body,
        resource=resource,
        path_parameters=match.groupdict() if match else {},
        stage=api.stage,
        binary_types=api.binary_media_types,
        source_ip=SOURCE_IP,
        default_host=HOST,
    )


def _not_invoked(event: dict) -> None:
    raise AssertionError("tests hand events to the handlers themselves")


class Answer(tuple):
    """A proxy answer: ``status``, ``headers``, ``body`` (parsed when it is JSON); it unpacks as
    ``status, body``."""

    status: int
    headers: dict[str, str]
    body: Any

    def __new__(cls, status: int, headers: dict[str, str], body: Any) -> Answer:
        answer = super().__new__(cls, (status, body))
        answer.status, answer.headers, answer.body = status, headers, body
        return answer


def proxy_answer(response: dict) -> Answer:
    """A proxy integration response as API Gateway answers it."""
    status, header_list, data = proxy_response(response)
    body: Any = data if response.get("isBase64Encoded") else data.decode()
    with contextlib.suppress(TypeError, ValueError):
        body = json.loads(body)
    return Answer(status, dict(header_list), body)
