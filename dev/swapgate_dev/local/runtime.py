"""Run Lambda functions as the Lambda service does: every invocation in an execution environment
that serves one event at a time, each environment a process of its own (module state, Powertools'
resolver and logger keys, caches are private to it).

* ``LambdaContext``: the context object, with what Powertools reads (``function_name``,
  ``memory_limit_in_mb``, ``invoked_function_arn``, ``aws_request_id``,
  ``get_remaining_time_in_millis()`` ...).
* ``LambdaFunction``: one function and its pool of environments. An invocation takes an idle (warm)
  environment, or starts a new one (a cold start: the handler's module is imported, its init runs
  once) while fewer than ``max_concurrency`` exist. At that limit it waits, first come first
  served, for a free one (Lambda would start more; one machine cannot), unless the template
  reserves concurrency: then that is the limit, and beyond it the invocation is throttled as
  Lambda throttles (``TooManyRequests``). An environment sees this process's environment
  variables with the function's ``env`` on top; changing ``env`` replaces the environments. An
  invocation that runs past ``timeout_seconds`` is stopped (``FunctionTimeout``:
  ``Sandbox.Timedout``) and its environment killed; the next invocation gets a new one.
* ``load_handler``: imports a handler file as a module (what an environment's init does).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from swapgate_dev.local.environments import (
    Environment,
    EnvironmentDied,
    EnvironmentTimeout,
    InitError,
    Launcher,
    default_launcher,
)

log = logging.getLogger("swapgate_dev.local.runtime")

DEFAULT_CONCURRENCY = 10  # environments per function when the template reserves no concurrency
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit for an on-demand init; the function's timeout is added


@dataclass
class LambdaContext:
    """The Lambda context object (attributes as the Python runtime names them)."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 128
    timeout_seconds: float = 3.0
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"
        if not self.log_stream_name:
            day = time.strftime("%Y/%m/%d", time.gmtime())
            self.log_stream_name = f"{day}/[{self.function_version}]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + float(self.timeout_seconds)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_payload(error: BaseException, request_id: str = "") -> dict[str, Any]:
    """An exception as Lambda's Invoke API reports a function error."""
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


class HandlerError(Exception):
    """A function error (``X-Amz-Function-Error: Unhandled``): the handler or its init raised, the
    invocation timed out, or the runtime exited. ``error`` is the payload Lambda answers."""

    def __init__(self, function_name: str, error: Mapping[str, Any]) -> None:
        self.function_name = function_name
        self.error = dict(error)
        super().__init__(f"{function_name}: {self.error_type}: {self.error_message}")

    @property
    def error_type(self) -> str:
        return str(self.error.get("errorType", "Unhandled"))

    @property
    def error_message(self) -> str:
        return str(self.error.get("errorMessage", ""))

    def payload(self, request_id: str) -> dict[str, Any]:
        """The body Lambda's Invoke API returns with ``X-Amz-Function-Error: Unhandled``."""
        return {"stackTrace": [], **self.error, "requestId": request_id}


class FunctionTimeout(HandlerError):
    """The invocation ran past the function's timeout; its environment was killed."""

    def __init__(self, function_name: str, request_id: str, seconds: float) -> None:
        message = f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds"
        super().__init__(function_name, {"errorType": "Sandbox.Timedout", "errorMessage": message})


class TooManyRequests(Exception):
    """Throttled: every environment the function's reserved concurrency allows is busy."""

    reason = "ReservedFunctionConcurrentInvocationLimitExceeded"

    def __init__(self, function_name: str) -> None:
        super().__init__("Rate Exceeded.")
        self.function_name = function_name


class CallerTimeout(Exception):
    """The caller stopped waiting (``wait``); an invocation already running goes on."""


_import_lock = threading.RLock()


def _modules_from(folder: Path) -> dict[str, ModuleType]:
    found = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(folder):
            found[name] = module
    return found


def load_handler(handler_file: Path, handler_name: str, module_name: str) -> Callable[[Any, Any], Any]:
    """Import ``handler_file`` as the module ``module_name`` and return its ``handler_name``.

    The handler's folder is the Lambda task root: it goes on ``sys.path`` so the handler can import
    its sibling modules, and each call imports those siblings afresh (the copies bound by earlier
    imports stay as they were), so two execution environments share no module state.
    """
    handler_file = handler_file.resolve()
    if not handler_file.is_file():
        raise FileNotFoundError(f"handler file {handler_file} does not exist")
    task_root = handler_file.parent
    with _import_lock:
        if str(task_root) not in sys.path:
            sys.path.append(str(task_root))
        earlier = _modules_from(task_root)
        for name in earlier:
            del sys.modules[name]
        spec = importlib.util.spec_from_file_location(module_name, handler_file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {handler_file}")
        module: ModuleType = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        # The task root goes first while importing, so a sibling shadows a same-named module elsewhere.
        sys.path.insert(0, str(task_root))
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        finally:
            sys.path.remove(str(task_root))
            # Later (lazy) imports by name find the first environment's siblings.
            for name, earlier_module in earlier.items():
                sys.modules[name] = earlier_module
    handler = getattr(module, handler_name, None)
    if not callable(handler):
        raise ImportError(f"{handler_file} has no callable {handler_name!r}")
    return handler


class _Waiter:
    """A caller waiting for an environment: handed one (or None: a slot to start one)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.environment: Environment | None = None

    def grant(self, environment: Environment | None) -> None:
        self.environment = environment
        self.event.set()


class LambdaFunction:
    """One function: its handler file, its environment variables, its pool of execution environments."""

    def __init__(
        self,
        name: str,
        handler_file: str | Path,
        handler_name: str = "handler",
        *,
        env: Mapping[str, str] | None = None,
        arn: str | None = None,
        timeout_seconds: float = 3.0,
        memory_mb: int = 128,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        reserved_concurrency: int | None = None,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        launcher: Launcher | None = None,
    ) -> None:
        self.name = name
        self.handler_file = Path(handler_file).resolve()
        self.handler_name = handler_name
        self.arn = arn or f"arn:aws:lambda:{region}:{account_id}:function:{name}"
        self.timeout_seconds = float(timeout_seconds)
        self.memory_mb = int(memory_mb)
        self.region = region
        self.env: dict[str, str] = {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(self.timeout_seconds)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            **{key: str(value) for key, value in (env or {}).items()},
        }
        self.max_concurrency = max_concurrency  # the limit where nothing is reserved
        self.reserved_concurrency = reserved_concurrency  # the limit, throttled beyond
        self.launcher = launcher  # None: the process-wide default launcher
        self.invocations = 0
        self.cold_starts = 0
        self._lock = threading.Lock()
        self._environments: set[Environment] = set()
        self._idle: list[Environment] = []
        self._starting = 0
        self._waiting: deque[_Waiter] = deque()  # callers waiting for an environment, oldest first

    def __repr__(self) -> str:
        return f"LambdaFunction({self.name!r}, environments={len(self._environments)})"

    @property
    def limit(self) -> int:
        """How many environments may exist at once."""
        return self.max_concurrency if self.reserved_concurrency is None else self.reserved_concurrency

    @property
    def environments(self) -> list[Environment]:
        """The environments that exist now, idle or busy."""
        with self._lock:
            return list(self._environments)

    def context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self.memory_mb,
            timeout_seconds=self.timeout_seconds,
        )

    # -- the pool -----------------------------------------------------------------------------
    def _take_idle(self) -> Environment | None:
        """The most recently used idle environment (the warmest) that is fit to serve (lock held)."""
        while self._idle:
            environment = self._idle.pop()
            if environment.alive and environment.config == self.env:
                return environment
            self._environments.discard(environment)  # gone, or started with other settings
            environment.kill()
        return None

    def _hand_over(self) -> None:
        """Give what is free to the callers waiting longest (lock held): an idle environment, or a
        slot to start one. Hand-over, not a race to the lock: a new caller cannot overtake them."""
        while self._waiting:
            environment = self._take_idle()
            if environment is None:
                if len(self._environments) + self._starting >= self.limit:
                    return
                self._starting += 1
            self._waiting.popleft().grant(environment)

    def _acquire(self, deadline: float | None) -> Environment | None:
        """An idle environment, or None when the caller is to start one (a slot is kept for it)."""
        with self._lock:
            if not self._waiting:
                environment = self._take_idle()
                if environment is not None:
                    return environment
                if len(self._environments) + self._starting < self.limit:
                    self._starting += 1
                    return None
            if self.reserved_concurrency is not None:
                raise TooManyRequests(self.name)
            waiter = _Waiter()
            self._waiting.append(waiter)
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not waiter.event.wait(remaining):
            with self._lock:
                if not waiter.event.is_set():
                    self._waiting.remove(waiter)
                    raise CallerTimeout(f"{self.name}: no environment became free in time")
        return waiter.environment

    def _release(self, environment: Environment, reuse: bool) -> None:
        with self._lock:
            if reuse and environment.alive and environment in self._environments:
                self._idle.append(environment)
            else:
                self._environments.discard(environment)
                environment.kill()
            self._hand_over()

    def _spec(self, number: int) -> dict[str, Any]:
        stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"
        runtime_env = {  # what the Lambda runtime sets besides the function's own variables
            "LAMBDA_TASK_ROOT": str(self.handler_file.parent),
            "_HANDLER": f"{self.handler_file.stem}.{self.handler_name}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        }
        return {
            "handler_file": str(self.handler_file),
            "handler_name": self.handler_name,
            "module_name": f"swapgate_local_fn_{self.name.replace('-', '_')}_{number}",
            "env": {**os.environ, **runtime_env, **self.env},
            "log_stream_name": stream,
        }

    def _start(self) -> Environment:
        """A cold start (the caller holds a starting slot): a new environment, its init done."""
        with self._lock:
            self.cold_starts += 1
            number = self.cold_starts
        config = dict(self.env)
        environment = None
        try:
            launcher = self.launcher or default_launcher()
            environment = launcher.spawn(
                f"{self.name}#{number}", self._spec(number), INIT_TIMEOUT_SECONDS + self.timeout_seconds
            )
        except InitError as exc:
            raise HandlerError(self.name, exc.payload) from None
        except EnvironmentTimeout:
            seconds = INIT_TIMEOUT_SECONDS + self.timeout_seconds
            message = f"Init timed out after {seconds:.2f} seconds"
            raise HandlerError(
                self.name, {"errorType": "Sandbox.Timedout", "errorMessage": message}
            ) from None
        except EnvironmentDied:
            message = "Runtime exited without providing a reason"
            raise HandlerError(
                self.name, {"errorType": "Runtime.ExitError", "errorMessage": message}
            ) from None
        finally:
            with self._lock:
                self._starting -= 1
                if environment is not None:
                    environment.config = config
                    self._environments.add(environment)
                else:
                    self._hand_over()
        log.info(
            "%s: cold start, environment #%d (pid %d, init %.0f ms)",
            self.name,
            number,
            environment.pid,
            environment.init_ms,
        )
        return environment

    def _run(self, environment: Environment, request: bytes, request_id: str) -> Any:
        with self._lock:
            self.invocations += 1
        try:
            answer = environment.invoke(request, self.timeout_seconds)
        except EnvironmentTimeout:
            self._release(environment, reuse=False)
            log.warning(
                "%s: Task timed out after %.2f seconds (request %s): environment replaced",
                self.name,
                self.timeout_seconds,
                request_id,
            )
            raise FunctionTimeout(self.name, request_id, self.timeout_seconds) from None
        except EnvironmentDied:
            self._release(environment, reuse=False)
            message = f"RequestId: {request_id} Error: Runtime exited without providing a reason"
            raise HandlerError(
                self.name, {"errorType": "Runtime.ExitError", "errorMessage": message}
            ) from None
        self._release(environment, reuse=True)
        if "error" in answer:
            raise HandlerError(self.name, answer["error"])
        return answer["result"]

    # -- invoking -----------------------------------------------------------------------------
    def invoke(self, event: Any, context: LambdaContext | None = None, *, wait: float | None = None) -> Any:
        """Run the handler on ``event`` in an environment and return its answer.

        Raises ``HandlerError`` (a function error; ``FunctionTimeout`` past the timeout),
        ``TooManyRequests`` (throttled) or, when the caller waits at most ``wait`` seconds,
        ``CallerTimeout`` (the invocation, if it started, goes on until it ends or times out).
        """
        context = context or self.context()
        fields = {
            item.name: getattr(context, item.name)
            for item in dataclasses.fields(context)
            if item.init and item.name not in ("log_stream_name", "_deadline")
        }
        request = json.dumps({"event": event, "context": fields}).encode()
        deadline = None if wait is None else time.monotonic() + wait
        environment = self._acquire(deadline)
        if environment is None:
            environment = self._start()
        if deadline is None or deadline >= time.monotonic() + self.timeout_seconds:
            return self._run(environment, request, context.aws_request_id)
        future: Future[Any] = Future()

        def run() -> None:
            try:
                future.set_result(self._run(environment, request, context.aws_request_id))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, name=f"invoke-{self.name}", daemon=True).start()
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            raise CallerTimeout(f"{self.name}: no answer within {wait} s") from None

    def invoke_payload(self, payload: bytes) -> tuple[bytes, str | None]:
        """The Lambda Invoke API: JSON payload in, (JSON payload out, function error or None).
        ``TooManyRequests`` is raised (the API answers 429)."""
        context = self.context()
        try:
            event = json.loads(payload) if payload else {}
        except ValueError:
            error = {"errorMessage": "Could not parse request body into json", "errorType": "Runtime.Invalid"}
            return json.dumps(error).encode(), "Unhandled"
        try:
            result = self.invoke(event, context)
        except HandlerError as exc:
            return json.dumps(exc.payload(context.aws_request_id)).encode(), "Unhandled"
        return json.dumps(result).encode(), None

    def warm_up(self) -> None:
        """Start one environment now when there is none (its cold start ahead of the first event)."""
        with self._lock:
            if self._environments or self._starting or self.limit < 1:
                return
            self._starting += 1
        self._release(self._start(), reuse=True)

    def stop(self) -> None:
        """Kill every environment, busy ones too; a later invocation cold-starts again."""
        with self._lock:
            environments = list(self._environments)
            self._environments.clear()
            self._idle.clear()
            self._hand_over()  # the waiting callers start new environments
        for environment in environments:
            environment.kill()
