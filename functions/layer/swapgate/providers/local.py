"""The ``local`` provider: the built-in face engine (:mod:`swapgate.engine`) behind the provider
interface, asynchronous like the remote providers.

* ``swap`` / ``multi_swap`` check their inputs cheaply (image headers, URL form, index lists), write the
  job state ``engine/{job_id}.json`` to ``$SWAPGATE_BUCKET``, and hand the work to a small thread pool
  (2 workers). The worker downloads URL inputs, runs the engine, stores the result image at
  ``engine/{job_id}.png`` (``.jpg`` when the source is a JPEG), updates the JSON and, when a
  ``webhook_url`` was given, POSTs the webhook::

      {"job_id": "local-<hex>", "state": "succeeded" | "failed",
       "result_url": "s3://<bucket>/engine/<job_id>.png" | null,
       "error": {"code": "...", "message": "..."} | null}

* ``fetch(job_id)`` reads the JSON; ``parse_webhook`` reads the webhook above. ``extract_faces`` runs
  synchronously. Engine errors (``no_face_detected``, ``face_index_out_of_range``, ``invalid_image``)
  end the job failed with that code and a message naming the image. The engine costs nothing: cost 0.
* URL inputs: https only, unless ``SWAPGATE_ALLOW_PRIVATE_URLS`` (the local stack, tests) also admits
  http and loopback hosts (presigned URLs of the local S3 on ``http://127.0.0.1:4566``).

This module imports neither OpenCV nor NumPy: the engine loads on the first job.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import requests

from swapgate import config, images
from swapgate.engine.imageinfo import read_info
from swapgate.errors import (
    InvalidImage,
    InvalidRequest,
    ProviderBadResponse,
    ProviderJobNotFound,
    ProviderNotConfigured,
    SwapgateError,
)
from swapgate.netsafety import DownloadFailed, check_url, download
from swapgate.providers.base import (
    FaceBoxes,
    ImageInput,
    Operation,
    Provider,
    ProviderJob,
    ProviderState,
    check_indexes,
)
from swapgate.providers.http import clean_message, load_body
from swapgate.providers.registry import PROVIDERS
from swapgate.storage import max_image_bytes

logger = logging.getLogger(__name__)

KEY_PREFIX = "engine/"
JOB_ID_RE = re.compile(r"^local-[0-9a-f]{32}$")
MAX_WORKERS = 2
WEBHOOK_TIMEOUT = 10
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF = 0.5  # seconds before the 2nd attempt; doubled for the 3rd


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def engine_available() -> bool:
    """Whether the ``local`` extra is installed (checked without importing it)."""
    return all(importlib.util.find_spec(name) is not None for name in ("cv2", "numpy", "mediapipe"))


class LocalProvider(Provider):
    spec = PROVIDERS["local"]

    def __init__(
        self,
        bucket: str | None = None,
        s3: Any = None,
        executor: Executor | None = None,
        *,
        engine: Any = None,
        http: requests.Session | None = None,
        sleep=time.sleep,
    ) -> None:
        self._bucket = bucket
        self._s3 = s3
        self._executor = executor
        self._engine = engine
        self._http = http
        self._sleep = sleep
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalProvider(bucket={self._bucket or config.env('SWAPGATE_BUCKET')!r})"

    # --- lazily built parts ----------------------------------------------------------------------

    @property
    def bucket(self) -> str:
        bucket = self._bucket or config.env("SWAPGATE_BUCKET")
        if not bucket:
            raise ProviderNotConfigured("provider 'local' needs a bucket for its jobs: set SWAPGATE_BUCKET")
        return bucket

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            with self._lock:
                if self._s3 is None:
                    import boto3

                    self._s3 = boto3.client("s3")
        return self._s3

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=MAX_WORKERS, thread_name_prefix="swapgate-engine"
                    )
        return self._executor

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from swapgate.engine import get_engine

            self._engine = get_engine()
        return self._engine

    @property
    def http(self) -> requests.Session:
        if self._http is None:
            with self._lock:
                if self._http is None:
                    self._http = requests.Session()
        return self._http

    def _require_engine(self) -> None:
        if self._engine is None and not engine_available():
            raise ProviderNotConfigured(
                "provider 'local' is not available: install the 'local' extra "
                "(pip install 'swapgate[local]', Python 3.11 or 3.12)"
            )

    # --- operations ------------------------------------------------------------------------------

    def swap(self, source: ImageInput, face: ImageInput, webhook_url: str | None = None) -> ProviderJob:
        self._require_engine()
        _check_input(source, "source_image", "source image")
        _check_input(face, "face_image", "face image")
        webhook_url = _check_webhook(webhook_url)
        return self._start(Operation.SWAP, source, [face], None, webhook_url)

    def multi_swap(
        self,
        source: ImageInput,
        faces: Sequence[ImageInput],
        indexes: Sequence[int],
        webhook_url: str | None = None,
    ) -> ProviderJob:
        self._require_engine()
        faces = list(faces)
        indexes = check_indexes(indexes, len(faces))
        _check_input(source, "source_image", "source image")
        for n, face in enumerate(faces):
            _check_input(face, "face_image", f"face image {n}" if len(faces) > 1 else "face image")
        webhook_url = _check_webhook(webhook_url)
        return self._start(Operation.MULTI_SWAP, source, faces, indexes, webhook_url)

    def extract_faces(self, image: ImageInput) -> FaceBoxes:
        self._require_engine()
        _check_input(image, "image", "image")
        data = self._resolve(image, "image", "image")
        return FaceBoxes(faces=self.engine.detect(data), cost=0)

    def fetch(self, job_id: str) -> ProviderJob:
        if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
            raise ProviderJobNotFound("provider 'local' has no such job")
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self._state_key(job_id))["Body"].read()
        except Exception as exc:
            if _is_missing(exc):
                raise ProviderJobNotFound("provider 'local' has no such job") from exc
            raise
        try:
            state = json.loads(body)
        except ValueError as exc:
            raise ProviderBadResponse("the local engine's job state is not JSON") from exc
        return self._job_from(state, source="job state")

    def parse_webhook(self, body: bytes | str | dict[str, Any]) -> ProviderJob:
        payload = load_body(body, provider=self.name)
        job = self._job_from(payload, source="webhook")
        if not job.state.terminal:
            raise ProviderBadResponse("local engine webhook must report succeeded or failed")
        return job

    # --- the job ---------------------------------------------------------------------------------

    @staticmethod
    def _state_key(job_id: str) -> str:
        return f"{KEY_PREFIX}{job_id}.json"

    def _result_url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _write_state(self, job_id: str, state: dict[str, Any]) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self._state_key(job_id),
            Body=json.dumps(state).encode(),
            ContentType="application/json",
        )

    def _start(
        self,
        operation: Operation,
        source: ImageInput,
        faces: list[ImageInput],
        indexes: list[int] | None,
        webhook_url: str | None,
    ) -> ProviderJob:
        job_id = f"local-{uuid.uuid4().hex}"
        state = {
            "job_id": job_id,
            "operation": operation.value,
            "state": ProviderState.QUEUED.value,
            "result_url": None,
            "error": None,
            "created_at": _now(),
            "finished_at": None,
        }
        self._write_state(job_id, state)  # before the worker can write anything
        future: Future = self.executor.submit(self._run, job_id, state, source, faces, indexes, webhook_url)
        future.add_done_callback(_log_crash)
        logger.info("local engine job queued", extra={"provider_job_id": job_id})
        return ProviderJob(self.name, job_id, ProviderState.QUEUED, cost=0)

    def _run(
        self,
        job_id: str,
        state: dict[str, Any],
        source: ImageInput,
        faces: list[ImageInput],
        indexes: list[int] | None,
        webhook_url: str | None,
    ) -> None:
        started = time.perf_counter()
        try:
            state = {**state, "state": ProviderState.RUNNING.value, "started_at": _now()}
            self._write_state(job_id, state)
            source_bytes = self._resolve(source, "source_image", "source image")
            face_bytes = [
                self._resolve(face, "face_image", f"face image {n}" if len(faces) > 1 else "face image")
                for n, face in enumerate(faces)
            ]
            if indexes is None:
                result = self.engine.swap(source_bytes, face_bytes[0])
            else:
                result = self.engine.multi_swap(source_bytes, face_bytes, indexes)
            kind = "jpeg" if result[:3] == b"\xff\xd8\xff" else "png"
            key = f"{KEY_PREFIX}{job_id}.{images.EXTENSIONS[kind]}"
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=result, ContentType=images.CONTENT_TYPES[kind]
            )
            state = {
                **state,
                "state": ProviderState.SUCCEEDED.value,
                "result_url": self._result_url(key),
                "finished_at": _now(),
            }
        except SwapgateError as exc:
            state = {
                **state,
                "state": ProviderState.FAILED.value,
                "error": {"code": exc.code, "message": exc.message},
                "finished_at": _now(),
            }
        except Exception as exc:  # never leave a job running because of a bug or an S3 outage
            logger.exception("local engine job crashed", extra={"error_type": type(exc).__name__})
            state = {
                **state,
                "state": ProviderState.FAILED.value,
                "error": {"code": "internal_error", "message": "the local engine failed unexpectedly"},
                "finished_at": _now(),
            }
        state["seconds"] = round(time.perf_counter() - started, 3)
        try:
            self._write_state(job_id, state)
        except Exception as exc:
            logger.exception("could not store the job state", extra={"error_type": type(exc).__name__})
        logger.info(
            "local engine job finished",
            extra={"provider_job_id": job_id, "state": state["state"], "seconds": state["seconds"]},
        )
        if webhook_url:
            self._send_webhook(webhook_url, state)

    def _send_webhook(self, url: str, state: dict[str, Any]) -> None:
        body = {
            "job_id": state["job_id"],
            "state": state["state"],
            "result_url": state["result_url"],
            "error": state["error"],
        }
        for attempt in range(WEBHOOK_ATTEMPTS):
            if attempt:
                self._sleep(WEBHOOK_BACKOFF * 2 ** (attempt - 1))
            try:
                check_url(url, "webhook")
                response = self.http.post(url, json=body, timeout=WEBHOOK_TIMEOUT, allow_redirects=False)
            except InvalidRequest:
                logger.warning("webhook URL refused", extra={"provider_job_id": state["job_id"]})
                return
            except requests.RequestException as exc:
                logger.warning(
                    "webhook delivery failed",
                    extra={"attempt": attempt + 1, "error_type": type(exc).__name__},
                )
                continue
            with response:
                if response.status_code < 300:
                    return
                logger.warning(
                    "webhook answered an error",
                    extra={"attempt": attempt + 1, "status": response.status_code},
                )
                if response.status_code < 500 and response.status_code not in (408, 429):
                    return  # the receiver refuses it: trying again will not help
        logger.error("webhook not delivered", extra={"provider_job_id": state["job_id"]})

    def _job_from(self, payload: dict[str, Any], *, source: str) -> ProviderJob:
        job_id = payload.get("job_id")
        if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
            raise ProviderBadResponse(f"local engine {source} has no valid job_id")
        try:
            state = ProviderState(payload.get("state"))
        except ValueError:
            raise ProviderBadResponse(f"local engine {source} has no valid state") from None
        if state is ProviderState.SUCCEEDED:
            result_url = payload.get("result_url")
            if not isinstance(result_url, str) or not result_url.startswith("s3://"):
                raise ProviderBadResponse(
                    f"local engine {source} reports success without an s3:// result_url"
                )
            return ProviderJob(self.name, job_id, state, result_url=result_url, cost=0)
        if state is ProviderState.FAILED:
            error = payload.get("error")
            error = error if isinstance(error, dict) else {}
            code = error.get("code") if isinstance(error.get("code"), str) else None
            message = clean_message(error.get("message"))
            return ProviderJob(
                self.name,
                job_id,
                state,
                cost=0,
                error_code=code or "provider_job_failed",
                error_message=message or "the local engine could not swap the faces",
            )
        return ProviderJob(self.name, job_id, state, cost=0)

    # --- inputs ----------------------------------------------------------------------------------

    def _resolve(self, image: ImageInput, field: str, what: str) -> bytes:
        """The image's bytes: as given, or downloaded from its URL (checked, size-capped)."""
        if image.data is not None:
            return image.data
        try:
            return download(
                image.url or "", field=field, what=f"the {what}", session=self.http, limit=max_image_bytes()
            )
        except DownloadFailed as exc:
            raise InvalidImage(f"the {what} {exc.reason}", field=field) from exc


# --- helpers -------------------------------------------------------------------------------------


def _check_input(image: ImageInput, field: str, what: str) -> None:
    """Cheap checks before a job is created: bytes must have a readable JPEG/PNG/WebP header, URLs
    must have an acceptable form (their host is checked again when downloaded)."""
    if image.data is not None:
        read_info(image.data, field=field, what=what)
    else:
        check_url(image.url or "", field, resolve=False)


def _check_webhook(url: str | None) -> str | None:
    if not url:
        return None
    return check_url(url, "webhook", resolve=False)


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    code = (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in ("NoSuchKey", "404", "NotFound")


def _log_crash(future: Future) -> None:
    exc = future.exception()
    if exc is not None:  # _run catches everything; this is the last line of defence
        logger.error("local engine worker crashed", extra={"error_type": type(exc).__name__})
