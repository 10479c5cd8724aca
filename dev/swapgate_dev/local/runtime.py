"""Run Lambda handlers in this process, the way the Lambda runtime would.

* ``LambdaContext``: the context object, with what Powertools reads (``function_name``,
  ``memory_limit_in_mb``, ``invoked_function_arn``, ``aws_request_id``,
  ``get_remaining_time_in_millis()`` ...).
* Each function sees its own environment (the template's ``Environment.Variables`` resolved, with
  the local overrides applied) while its handler runs: ``os.environ`` gets an overlay keyed by a
  context variable, so concurrent invocations of different functions in different threads each
  read their own values. Keys shared by every function are also written to the real environment.
* ``LambdaFunction`` keeps a pool of execution environments: each one is a separate import of the
  function's ``app.py`` (by file path, under its own module name), serving one invocation at a
  time, as Lambda does; a busy pool grows up to ``max_concurrency``.
"""

from __future__ import annotations

import contextvars
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

_function_env: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "swapgate_local_function_env", default=None
)


class _ScopedEnviron(os._Environ):  # type: ignore[name-defined,misc]
    """``os.environ`` with a per-context overlay for reads; writes go to the real environment."""

    def __getitem__(self, key: str) -> str:
        overlay = _function_env.get()
        if overlay is not None and key in overlay:
            return overlay[key]
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        overlay = _function_env.get()
        if overlay is not None and key in overlay:
            return True
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        overlay = _function_env.get()
        seen = set()
        for key in super().__iter__():
            seen.add(key)
            yield key
        if overlay is not None:
            yield from (key for key in overlay if key not in seen)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


_install_lock = threading.Lock()


def install_scoped_environ() -> None:
    """Make ``os.environ`` overlay-aware (idempotent). The object itself changes class, so code
    that holds a reference to it (botocore sessions keep one) reads the overlay too."""
    with _install_lock:
        if not isinstance(os.environ, _ScopedEnviron):
            os.environ.__class__ = _ScopedEnviron


@contextmanager
def function_environment(env: Mapping[str, str]) -> Iterator[None]:
    """While inside, ``os.environ`` / ``os.getenv`` in this context read ``env`` first."""
    install_scoped_environ()
    token = _function_env.set(dict(env))
    try:
        yield
    finally:
        _function_env.reset(token)


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


class HandlerError(Exception):
    """A handler raised: what Lambda reports as a function error."""

    def __init__(self, function_name: str, error: BaseException) -> None:
        super().__init__(f"{function_name} raised {type(error).__name__}")
        self.error = error

    def payload(self, request_id: str) -> dict[str, Any]:
        """The body Lambda's Invoke API returns with ``X-Amz-Function-Error: Unhandled``."""
        return {
            "errorMessage": str(self.error),
            "errorType": type(self.error).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_tb(self.error.__traceback__),
        }


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


class LambdaFunction:
    """One function: its handler file, its environment, a pool of warm execution environments."""

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
        max_concurrency: int = 10,
        region: str = "us-east-1",
        account_id: str = "123456789012",
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
        self.max_concurrency = max_concurrency
        self._idle: list[Callable[[Any, Any], Any]] = []
        self._created = 0
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self.invocations = 0

    def _new_environment(self) -> Callable[[Any, Any], Any]:
        module_name = f"swapgate_local_fn_{self.name.replace('-', '_')}_{self._created}"
        self._created += 1
        with function_environment(self.env):
            return load_handler(self.handler_file, self.handler_name, module_name)

    def warm_up(self) -> None:
        """Import the handler once now (a cold start), so import errors show at startup."""
        with self._lock:
            if not self._idle and self._created == 0:
                self._idle.append(self._new_environment())

    @contextmanager
    def _environment(self) -> Iterator[Callable[[Any, Any], Any]]:
        self._slots.acquire()
        try:
            with self._lock:
                handler = self._idle.pop() if self._idle else None
                if handler is None:
                    handler = self._new_environment()
            try:
                yield handler
            finally:
                with self._lock:
                    self._idle.append(handler)
        finally:
            self._slots.release()

    def context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.name,
            invoked_function_arn=self.arn,
            memory_limit_in_mb=self.memory_mb,
            timeout_seconds=self.timeout_seconds,
        )

    def invoke(self, event: Any, context: LambdaContext | None = None) -> Any:
        """Call the handler with ``event``; a handler exception is raised as ``HandlerError``."""
        context = context or self.context()
        with self._environment() as handler, function_environment(self.env):
            self.invocations += 1
            try:
                return handler(event, context)
            except Exception as exc:
                raise HandlerError(self.name, exc) from exc

    def invoke_payload(self, payload: bytes) -> tuple[bytes, str | None]:
        """The Lambda Invoke API: JSON payload in, (JSON payload out, function error or None)."""
        context = self.context()
        try:
            event = json.loads(payload) if payload else {}
        except ValueError:
            error = {"errorMessage": "Could not parse request body into json", "errorType": "Runtime.Invalid"}
            return json.dumps(error).encode(), "Unhandled"
        try:
            result = self.invoke(event, context)
        except HandlerError as exc:
            traceback.print_exception(exc.error, file=sys.stderr)
            return json.dumps(exc.payload(context.aws_request_id)).encode(), "Unhandled"
        return json.dumps(result, default=str).encode(), None
