"""How a built-in engine job reaches an :class:`~swapgate.providers.builtin_runner.EngineRunner`.

* ``ThreadDispatch`` (the local stack and tests, when ``SWAPGATE_ENGINE_FUNCTION`` is unset): a small
  thread pool in this process runs the jobs; faces are detected in the calling thread.
* ``LambdaDispatch`` (AWS: template.yaml sets ``SWAPGATE_ENGINE_FUNCTION`` to the EngineFunction):
  a job is an asynchronous invoke (``InvocationType=Event``), so the API answers at once; detecting
  faces is a synchronous invoke.

The EngineFunction's events and answers (the contract both sides use)::

    {"action": "run", "job_id": "builtin-<hex>"}  ->  {"job_id": ..., "state": "succeeded" | "failed" | "skipped"}
    {"action": "detect", "image": {"key": "engine/..."} | {"url": "https://..."}}  ->  {"faces": [[x1, y1, x2, y2], ...]}
    either, when refused  ->  {"error": {"code", "message", "field"?}, "status": int}
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from swapgate.errors import InvalidRequest, ProviderBusy, ProviderError, SwapgateError
from swapgate.providers.base import ImageInput
from swapgate.providers.builtin_runner import EngineRunner

logger = logging.getLogger(__name__)

MAX_WORKERS = 2
#: seconds to wait for a synchronous detect (the API's own limit is 29 s; a cold engine starts in a few)
DETECT_READ_TIMEOUT = 25


def run_event(job_id: str) -> dict[str, Any]:
    return {"action": "run", "job_id": job_id}


def detect_event(image: dict[str, str]) -> dict[str, Any]:
    return {"action": "detect", "image": image}


@dataclass(frozen=True)
class EngineEvent:
    """A parsed EngineFunction event."""

    action: str
    job_id: str | None = None
    image: dict[str, str] | None = None

    @classmethod
    def parse(cls, event: Any) -> EngineEvent:
        if not isinstance(event, dict):
            raise InvalidRequest("an engine event is a JSON object")
        action = event.get("action")
        if action == "run" and isinstance(event.get("job_id"), str):
            return cls(action, job_id=event["job_id"])
        image = event.get("image")
        if action == "detect" and isinstance(image, dict) and _is_reference(image):
            return cls(action, image={k: str(v) for k, v in image.items()})
        raise InvalidRequest("an engine event is {action: run, job_id} or {action: detect, image}")

    def handle(self, runner: EngineRunner, seconds: float) -> dict[str, Any]:
        """Run the event on ``runner``; the answer the invoker reads. Refusals (no such job, a bad image)
        are answers, not failures: an async event that failed would be retried for nothing. Anything
        else (S3 unreachable) raises, and Lambda tries the event again."""
        try:
            if self.action == "run":
                return {"job_id": self.job_id, "state": runner.run(self.job_id or "", seconds)}
            return {"faces": runner.detect(self.image or {})}
        except SwapgateError as exc:
            return {"error": exc.to_dict(), "status": exc.status}


def _is_reference(image: dict[str, Any]) -> bool:
    return len(image) == 1 and isinstance(image.get("key") or image.get("url"), str)


class ThreadDispatch:
    """Jobs on a thread pool of this process."""

    def __init__(self, runner: EngineRunner, executor: Executor | None = None) -> None:
        self.runner = runner
        self._executor = executor
        self._lock = threading.Lock()

    @property
    def executor(self) -> Executor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=MAX_WORKERS, thread_name_prefix="swapgate-engine"
                )
            return self._executor

    def submit(self, job_id: str) -> None:
        self.executor.submit(self.runner.run, job_id).add_done_callback(_log_crash)

    def detect(self, image: ImageInput, store: Callable[[], dict[str, str]]) -> list[list[int]]:
        """The faces in ``image``, found here (bytes are used as they are, never stored)."""
        if image.data is not None:
            return self.runner.engine.detect(image.data)
        return self.runner.detect({"url": image.url or ""})


class LambdaDispatch:
    """Jobs and face detection on the EngineFunction."""

    def __init__(self, function_name: str, client: Any = None) -> None:
        self.function_name = function_name
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                self._client = boto3.client(
                    "lambda",
                    config=Config(
                        connect_timeout=5, read_timeout=DETECT_READ_TIMEOUT, retries={"mode": "standard"}
                    ),
                )
            return self._client

    def submit(self, job_id: str) -> None:
        self._invoke(run_event(job_id), "Event")

    def detect(self, image: ImageInput, store: Callable[[], dict[str, str]]) -> list[list[int]]:
        """The faces in ``image``, found by the EngineFunction; ``store()`` gives the reference it reads
        (bytes go to the bucket: an invoke's payload is capped at 6 MB)."""
        answer = self._invoke(detect_event(store()), "RequestResponse")
        if isinstance(answer.get("error"), dict):
            error = answer["error"]
            raise SwapgateError(
                str(error.get("message") or "the built-in engine refused the image"),
                field=error.get("field"),
                code=str(error.get("code") or "provider_error"),
                status=int(answer.get("status") or 502),
            )
        faces = answer.get("faces")
        if not isinstance(faces, list):
            raise ProviderError("the built-in engine answered without faces")
        return faces

    def _invoke(self, event: dict[str, Any], invocation_type: str) -> dict[str, Any]:
        try:
            response = self.client.invoke(
                FunctionName=self.function_name,
                InvocationType=invocation_type,
                Payload=json.dumps(event).encode(),
            )
        except Exception as exc:
            code = _error_code(exc)
            logger.warning("engine invoke failed", extra={"error_type": type(exc).__name__, "code": code})
            if code in ("TooManyRequestsException", "ServiceException", "EC2ThrottledException"):
                raise ProviderBusy("the built-in engine is busy; try again shortly") from exc
            raise ProviderError("the built-in engine could not be reached") from exc
        if invocation_type == "Event":
            return {}
        body = response["Payload"].read()
        if response.get("FunctionError"):
            logger.error("engine function failed", extra={"function_error": response["FunctionError"]})
            raise ProviderError("the built-in engine failed")
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ProviderError("the built-in engine's answer is not a JSON object")
        return answer


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def _log_crash(future: Future) -> None:
    exc = future.exception()
    if exc is not None:  # run() catches the engine's errors; this is an S3 or record problem
        logger.error("engine worker crashed", extra={"error_type": type(exc).__name__})
