"""An API Gateway REST API (v1, Lambda proxy integration) on loopback.

Serves the routes a SAM template declares (every ``Type: Api`` event of every function) by
building the proxy event API Gateway would build and invoking the function (in its execution
environments, see ``runtime``), then writing the proxy response back. Usable on its own, e.g. in
tests (local AWS must then be reachable at the functions' ``AWS_ENDPOINT_URL``):

    with ApiGatewayEmulator("template.yaml", port=0, env={"SWAPGATE_API_KEYS": "k"}) as api:
        requests.post(f"{api.url}/v1/swaps", ...)

Event shape (``proxy_event``, which the tests and the ``tests/events`` files use too): ``resource``, ``path``, ``httpMethod``, ``headers`` (last value) and
``multiValueHeaders``, ``queryStringParameters`` and ``multiValueQueryStringParameters``,
``pathParameters``, ``stageVariables``, ``requestContext`` (``stage``, ``domainName``, ``path``,
``requestId``, ``identity.sourceIp`` ...), ``body`` and ``isBase64Encoded``: bodies whose
Content-Type matches the API's ``BinaryMediaTypes`` (``~1`` read as ``/``, wildcards like
``image/*``) arrive base64-encoded, others as text. URLs carry no stage prefix (as with
``sam local start-api`` or a custom domain); ``requestContext.stage`` names the stage.

Answers API Gateway gives itself, in its ``{"message": ...}`` shape: 403 ``Missing Authentication
Token`` for a path no resource matches or a method (any method, TRACE or made-up ones included)
the resource lacks, 413 above the 10 MB payload quota or Lambda's 6 MB invocation payload, 502
when the function fails (raises, times out before the integration does, exits) or answers something
that is not a proxy response, 504 "Endpoint request timed out" when no answer came within the 29 s
integration timeout (the invocation itself goes on), and 500 when Lambda throttles the function
(its reserved concurrency is all busy), as API Gateway answers Lambda's 429.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from swapgate_dev.local.cfn import Resolver
from swapgate_dev.local.environments import Launcher
from swapgate_dev.local.functions import build_functions
from swapgate_dev.local.provision import Deployment, plan
from swapgate_dev.local.runtime import CallerTimeout, HandlerError, LambdaFunction, TooManyRequests
from swapgate_dev.local.sam import SamTemplate
from swapgate_dev.serving import Served, serve_in_thread, stop_serving

log = logging.getLogger("swapgate_dev.local.api")

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload quota
MAX_INVOKE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload quota
INTEGRATION_TIMEOUT_SECONDS = 29.0  # REST API's default (and, without a quota raise, maximum)

Invoke = Callable[[dict[str, Any]], Any]


@dataclass
class Route:
    """One resource + method, bound to a function."""

    resource: str  # as declared, e.g. /v1/swaps/{id}
    method: str  # upper case, or ANY
    invoke: Invoke
    function_name: str = ""

    def __post_init__(self) -> None:
        self.segments = [segment for segment in self.resource.strip("/").split("/") if segment]
        pattern = ""
        for segment in self.segments:
            if segment.startswith("{") and segment.endswith("+}"):
                pattern += rf"/(?P<{segment[1:-2]}>.+)"
            elif segment.startswith("{") and segment.endswith("}"):
                pattern += rf"/(?P<{segment[1:-1]}>[^/]+)"
            else:
                pattern += "/" + re.escape(segment)
        self.pattern = re.compile(f"^{pattern}/?$" if pattern else "^/?$")

    @property
    def specificity(self) -> tuple[int, ...]:
        """Sorts literal segments before ``{param}`` before ``{greedy+}``, position by position."""
        ranks = []
        for segment in self.segments:
            if segment.endswith("+}"):
                ranks.append(2)
            elif segment.startswith("{"):
                ranks.append(1)
            else:
                ranks.append(0)
        return (*ranks, -len(self.segments))


def binary_media_types(declared: list[str] | None) -> list[str]:
    """The template's ``BinaryMediaTypes`` with ``~1`` decoded to ``/``."""
    return [str(item).replace("~1", "/").strip().lower() for item in declared or []]


def is_binary(content_type: str | None, media_types: list[str]) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(media_type, pattern) for pattern in media_types)


def _gateway_error(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"message": message}).encode()
    return status, [("Content-Type", "application/json")], body


def proxy_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """A Lambda proxy answer as status, headers and body bytes (502 when it is not one)."""
    if not isinstance(result, Mapping) or not isinstance(result.get("statusCode"), int):
        log.error("the handler answered something that is not a proxy response: %s", type(result).__name__)
        return _gateway_error(502, "Internal server error")
    headers: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    for name, values in multi.items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(name), str(value)))
    lower_multi = {name.lower() for name in multi}
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in lower_multi:
            headers.append((str(name), str(value)))
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, TypeError):
            log.error("the handler answered isBase64Encoded with a body that is not base64")
            return _gateway_error(502, "Internal server error")
    else:
        data = str(body).encode("utf-8")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return int(result["statusCode"]), headers, data


@dataclass(frozen=True)
class ApiSettings:
    stage: str
    binary_media_types: list[str]


def api_settings(template: SamTemplate, parameters: Mapping[str, Any] | None = None) -> ApiSettings:
    """The stage and binary media types of the API the template's routes use."""
    api_ids = sorted({route.api_id for route in template.api_routes()})
    if len(api_ids) > 1:
        log.warning("the template declares several APIs; they share one port locally")
    resolver = Resolver(template.document, parameters=parameters)
    properties: dict[str, Any] = {}
    for api_id in api_ids:
        properties = resolver.resolve(template.api_properties(api_id))
    return ApiSettings(
        stage=str(properties.get("StageName", "Prod")),
        binary_media_types=binary_media_types(properties.get("BinaryMediaTypes")),
    )


def proxy_event(
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    resource: str,
    path_parameters: Mapping[str, str],
    stage: str,
    binary_types: list[str],
    source_ip: str,
    default_host: str,
) -> dict[str, Any]:
    """The proxy event API Gateway sends for this request (``raw_path`` with its query string; the
    ``Host`` header, else ``default_host``, is the domain name)."""
    split = urlsplit(raw_path)
    path = unquote(split.path) or "/"
    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query_single: dict[str, str] = {}
    query_multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        query_single[name] = value
        query_multi.setdefault(name, []).append(value)
    lower = {name.lower(): value for name, value in headers}
    content_type = lower.get("content-type")
    if not body:
        event_body, encoded = None, False
    elif is_binary(content_type, binary_types):
        event_body, encoded = base64.b64encode(body).decode("ascii"), True
    else:
        event_body, encoded = body.decode("utf-8", errors="replace"), False
    host = lower.get("host", default_host)
    now = time.time()
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": {k: unquote(v) for k, v in path_parameters.items()} or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "extendedRequestId": base64.b64encode(os.urandom(12)).decode(),
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "apiKey": None,
                "apiKeyId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": source_ip,
                "user": None,
                "userAgent": lower.get("user-agent"),
                "userArn": None,
            },
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "local",
            "resourcePath": resource,
            "stage": stage,
        },
        "body": event_body,
        "isBase64Encoded": encoded,
    }


class ApiGatewayEmulator(Served):
    """The API on ``http://host:port``; ``start()`` / ``stop()`` or a ``with`` block.

    Give either ``template_path`` (functions are built from the template: handler files, the
    ``Environment`` resolved with planned local resource names, ``*_PARAM`` secret names dropped,
    then ``env`` applied, and ``SWAPGATE_PUBLIC_URL`` = ``url`` unless ``env`` sets it; resource
    names come from ``deployment`` when given, e.g. one ``provision.deploy`` created) or
    ``template`` with ready ``functions`` by logical id (as the local stack does, sharing them
    with the Lambda router and the SQS pollers). ``functions`` holds them either way, e.g. to
    change a function's ``env`` between tests (its environments are then replaced). Functions
    built here have their environments stopped by ``stop()``; given ones belong to the caller.
    ``integration_timeout`` is how long a request waits for its function.
    """

    def __init__(
        self,
        template_path: str | Path | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        env: Mapping[str, str] | None = None,
        template: SamTemplate | None = None,
        functions: Mapping[str, LambdaFunction] | None = None,
        stage: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        deployment: Deployment | None = None,
    ) -> None:
        if template is None:
            if template_path is None:
                raise ValueError("give template_path or template")
            template = SamTemplate(template_path)
        self.template = template
        self.host = host
        self.port = port
        # Built here, the functions learn the emulator's URL as SWAPGATE_PUBLIC_URL once it listens
        # (provider callbacks come back to it), unless ``env`` names another.
        self._set_public_url = functions is None and "SWAPGATE_PUBLIC_URL" not in (env or {})
        self._owns_functions = functions is None
        self._launcher: Launcher | None = None
        self.integration_timeout = INTEGRATION_TIMEOUT_SECONDS
        if functions is None:
            if deployment is None:
                deployment = plan(template, endpoint_url="http://127.0.0.1:4566", parameters=parameters)
            wanted = {route.function_id for route in template.api_routes()}
            functions = build_functions(deployment, env=env or {}, only=wanted)
        self.functions = dict(functions)
        self.routes: list[Route] = []
        for route in template.api_routes():
            function = self.functions[route.function_id]
            self.routes.append(
                Route(route.path, route.method, partial(self._invoke, function), function.name)
            )
        settings = api_settings(template, parameters)
        self.stage = stage or settings.stage
        self.binary_media_types = settings.binary_media_types
        self.routes.sort(key=lambda route: route.specificity)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> ApiGatewayEmulator:
        emulator = self

        class Handler(_RequestHandler):
            api = emulator

        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        if self._owns_functions:
            self._launcher = Launcher().start()
            for function in self.functions.values():
                function.launcher = self._launcher
        if self._set_public_url:
            for function in self.functions.values():
                function.env["SWAPGATE_PUBLIC_URL"] = self.url
        self._thread = serve_in_thread(self._server, poll_interval=0.1, name="api-gateway")
        return self

    def stop(self) -> None:
        stop_serving(self._server, self._thread, timeout=10)
        self._server = self._thread = None
        if self._launcher is not None:
            for function in self.functions.values():
                function.stop()
            self._launcher.stop()
            self._launcher = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- routing ------------------------------------------------------------------------------
    def _invoke(self, function: LambdaFunction, event: dict[str, Any]) -> Any:
        return function.invoke(event, wait=self.integration_timeout)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], int]:
        """The route for ``method path``, its path parameters, and 200 / 404 / 405."""
        candidates = [route for route in self.routes if route.pattern.match(path)]
        if not candidates:
            return None, {}, 404
        # API Gateway picks the most specific resource first, then the method on it.
        resource = candidates[0].resource
        on_resource = [route for route in candidates if route.resource == resource]
        for wanted in (method, "ANY"):
            for route in on_resource:
                if route.method == wanted:
                    params = route.pattern.match(path).groupdict()  # type: ignore[union-attr]
                    return route, params, 200
        return None, {}, 405

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """One request through API Gateway: status, headers and body of the answer."""
        if len(body) > MAX_REQUEST_BYTES:
            return _gateway_error(413, "Request Too Long")
        path = unquote(urlsplit(raw_path).path) or "/"
        route, params, _ = self.match(method, path)
        if route is None:  # a REST API answers an undefined method or resource as if unauthenticated
            return _gateway_error(403, "Missing Authentication Token")
        # What API Gateway adds on the way in.
        names = {name.lower() for name, _ in headers}
        extra = [
            ("X-Forwarded-For", source_ip),
            ("X-Forwarded-Port", str(self.port)),
            ("X-Forwarded-Proto", "http"),
            ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"),
        ]
        headers = [*headers, *[(name, value) for name, value in extra if name.lower() not in names]]
        event = proxy_event(
            method,
            raw_path,
            headers,
            body,
            resource=route.resource,
            path_parameters=params,
            stage=self.stage,
            binary_types=self.binary_media_types,
            source_ip=source_ip,
            default_host=f"{self.host}:{self.port}",
        )
        if len(json.dumps(event)) > MAX_INVOKE_BYTES:
            return _gateway_error(413, "Request Too Long")
        try:
            result = route.invoke(event)
        except CallerTimeout:
            log.error(
                "%s %s: %s gave no answer within %.0f s",
                method,
                path,
                route.function_name,
                self.integration_timeout,
            )
            return _gateway_error(504, "Endpoint request timed out")
        except TooManyRequests:
            log.error(
                "%s %s: %s is throttled (reserved concurrency all busy)", method, path, route.function_name
            )
            return _gateway_error(500, "Internal server error")
        except HandlerError as exc:
            log.error(
                "%s %s: %s failed: %s: %s",
                method,
                path,
                route.function_name,
                exc.error_type,
                exc.error_message,
            )
            return _gateway_error(502, "Internal server error")
        status, out_headers, data = proxy_response(result)
        out_headers.append(("x-amzn-RequestId", event["requestContext"]["requestId"]))
        out_headers.append(("x-amz-apigw-id", event["requestContext"]["extendedRequestId"][:16]))
        return status, out_headers, data


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 resets connections when many clients arrive at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return  # the client went away
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    api: ApiGatewayEmulator
    protocol_version = "HTTP/1.1"
    server_version = "swapgate-local-apigw"
    # headers and body go out in two writes: without TCP_NODELAY the body waits for the client's
    # delayed ACK (about 40 ms on Linux) on every kept-alive request
    disable_nagle_algorithm = True

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        started = time.monotonic()
        try:
            body = self._read_body()
        except (ValueError, OSError):
            status, headers, data = _gateway_error(400, "Bad Request")
            self.close_connection = True
        else:
            status, headers, data = self.api.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        log.info(
            "%s %s -> %d (%.0f ms)",
            self.command,
            self.path.split("?", 1)[0],
            status,
            (time.monotonic() - started) * 1000,
        )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def __getattr__(self, name: str) -> Any:
        # any other method (TRACE, PROPFIND, made-up ones) reaches API Gateway's routing too
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # the access line is logged in _serve
        pass
