"""Local AWS: moto in server mode, in this process, with Lambda invocations routed to our functions.

How Step Functions reaches the real handlers
---------------------------------------------
With ``stepfunctions.execute_state_machine`` on, moto runs executions in its ASL interpreter
(``moto.stepfunctions.parser``). A ``Task`` whose resource is a Lambda ARN calls Lambda's
``Invoke`` API through a boto3 client that, outside ``mock_aws``, points at
``http://localhost:$MOTO_PORT`` (``moto.stepfunctions.parser.asl.utils.boto_client``). So the
call arrives at this server as a plain HTTP request, ``POST /2015-03-31/functions/<fn>/invocations``.

moto itself cannot run the code without Docker: its Docker-free ``lambda.use_docker = False``
backend (``awslambda_simple``) echoes the payload back. Rather than patch that backend (global
state, shared with every ``mock_aws`` test in the same process), the server wraps moto's WSGI app
in ``LambdaInvokeMiddleware``, which answers ``Invoke`` for the functions registered with its
``LambdaRouter`` by invoking them in their execution environments (``runtime``), exactly at the
wire protocol any client uses (the interpreter, the CLI, boto3 in a handler; a throttled function
answers 429 ``TooManyRequestsException``), and passes every other request to moto. The
functions are also created in moto (Docker-free backend), so their ARNs, ``GetFunction`` and
``ListFunctions`` are real.

Server-mode configuration is read by moto from ``moto.core.config.default_user_config``, which
its ``POST /moto-api/config`` endpoint sets: ``MotoServer.start`` resets the (process-wide)
backends through ``POST /moto-api/reset``, then posts
``{"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}}`` there
and sets ``MOTO_PORT`` for the interpreter's client; ``stop`` restores both.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

import requests
from moto.core.config import default_user_config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from swapgate_dev.local.runtime import LambdaFunction, TooManyRequests

log = logging.getLogger("swapgate_dev.local.aws")

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class LambdaRouter:
    """The functions whose ``Invoke`` calls run in this process, by name and by ARN."""

    def __init__(self) -> None:
        self._functions: dict[str, LambdaFunction] = {}
        self._lock = threading.Lock()

    def register(self, function: LambdaFunction) -> None:
        with self._lock:
            self._functions[function.name] = function
            self._functions[function.arn] = function

    def lookup(self, name_or_arn: str) -> LambdaFunction | None:
        """A function by name, full or partial ARN, with or without the ``$LATEST`` qualifier."""
        candidates = [name_or_arn]
        if name_or_arn.endswith(":$LATEST"):
            candidates.append(name_or_arn[: -len(":$LATEST")])
        if ":function:" in name_or_arn:
            candidates.append(name_or_arn.split(":function:", 1)[1].split(":", 1)[0])
        with self._lock:
            for candidate in candidates:
                if candidate in self._functions:
                    return self._functions[candidate]
        return None

    def functions(self) -> list[LambdaFunction]:
        with self._lock:
            return list({id(fn): fn for fn in self._functions.values()}.values())


_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")


class LambdaInvokeMiddleware:
    """WSGI middleware: Lambda ``Invoke`` for registered functions; everything else to moto."""

    def __init__(self, app: WsgiApp, router: LambdaRouter) -> None:
        self.app = app
        self.router = router

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") == "POST" and match:
            function = self.router.lookup(unquote(match.group("name")))
            if function is not None:
                return self._invoke(function, environ, start_response)
        return self.app(environ, start_response)

    def _invoke(
        self, function: LambdaFunction, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length) if length else b""
        invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        request_id = str(uuid.uuid4())
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id),
            ("X-Amz-Executed-Version", "$LATEST"),
        ]
        if invocation_type == "DryRun":
            start_response("204 No Content", headers)
            return [b""]
        if invocation_type == "Event":
            threading.Thread(
                target=_invoke_event, args=(function, payload), name=f"invoke-{function.name}", daemon=True
            ).start()
            start_response("202 Accepted", [*headers, ("Content-Length", "0")])
            return [b""]
        try:
            body, function_error = function.invoke_payload(payload)
        except TooManyRequests as exc:
            body = json.dumps({"Reason": exc.reason, "Type": "User", "message": str(exc)}).encode()
            headers.append(("x-amzn-ErrorType", "TooManyRequestsException"))
            headers.append(("Content-Length", str(len(body))))
            start_response("429 Too Many Requests", headers)
            return [body]
        if function_error:
            headers.append(("X-Amz-Function-Error", function_error))
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [body]


def _invoke_event(function: LambdaFunction, payload: bytes) -> None:
    """An asynchronous (``Event``) invocation: nobody waits for its answer."""
    try:
        function.invoke_payload(payload)
    except Exception:
        log.exception("%s: the asynchronous invocation failed", function.name)


class MotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` with the Lambda router in front, a startup error raised to the caller
    (instead of a hang), its socket closed on ``stop`` and moto's server config restored."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4566, router: LambdaRouter | None = None) -> None:
        super().__init__(ip_address=host, port=port, verbose=False)
        self.router = router or LambdaRouter()
        self._startup_error: BaseException | None = None
        self._saved_config: dict[str, Any] = {}
        self._saved_moto_port: str | None = None

    def _server_entry(self) -> None:
        try:
            app = LambdaInvokeMiddleware(DomainDispatcherApplication(create_backend_app), self.router)
            self._server = make_server(
                self._ip_address, self._port, app, threaded=True, request_handler=MotoRequestHandler
            )
        except BaseException as exc:
            self._startup_error = exc
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.1)

    def start(self) -> None:
        super().start()
        if self._startup_error is not None:
            error, self._startup_error = self._startup_error, None
            self._thread = None
            raise OSError(f"local AWS cannot listen on {self._ip_address}:{self._port}: {error}") from error
        self._saved_config = {key: copy.deepcopy(default_user_config.get(key)) for key in MOTO_CONFIG}
        self._saved_moto_port = os.environ.get("MOTO_PORT")
        # moto's Step Functions interpreter calls Lambda at http://localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        self.reset()
        response = requests.post(f"{self.url}/moto-api/config", json=MOTO_CONFIG, timeout=10)
        response.raise_for_status()

    def reset(self) -> None:
        """Empty every moto backend (they are process-wide: a fresh server starts from nothing)."""
        requests.post(f"{self.url}/moto-api/reset", timeout=30).raise_for_status()

    @property
    def port(self) -> int:
        return self.get_host_and_port()[1]

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._thread is None:
            return
        server = self._server
        try:
            self.reset()
        except requests.RequestException:
            log.warning("could not reset moto's backends", exc_info=True)
        super().stop()
        if server is not None:
            server.server_close()
        self._thread = None
        for key, value in self._saved_config.items():
            if value is None:
                default_user_config.pop(key, None)  # type: ignore[misc]
            else:
                default_user_config[key] = value  # type: ignore[literal-required]
        if self._saved_moto_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = self._saved_moto_port
