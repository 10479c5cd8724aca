"""The ``local`` provider: the built-in face engine (:mod:`swapgate.engine`) behind the provider
interface, asynchronous like the remote providers.

* ``swap`` / ``multi_swap`` check their inputs cheaply (image headers, URL form, index lists), write the
  job state ``engine/{job_id}.json`` to ``$SWAPGATE_BUCKET``, and hand the work to a small thread pool
  (2 workers). The worker downloads URL inputs, runs the engine, stores the result image at
  ``engine/{job_id}.png`` (``.jpg`` when the source is a JPEG), updates the JSON and, when a
  ``webhook_url`` was given, POSTs the webhook (:mod:`~swapgate.providers.local_webhook`)::

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
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import requests

from swapgate import config, images
from swapgate.engine.imageinfo import read_info
from swapgate.errors import (
    InvalidImage,
    ProviderBadResponse,
    ProviderJobNotFound,
    ProviderNotConfigured,
    SwapgateError,
)
from swapgate.netsafety import check_url
from swapgate.outbound import RequestFailed, download
from swapgate.providers import local_jobs as jobs
from swapgate.providers.base import (
    FaceBoxes,
    ImageInput,
    Operation,
    Provider,
    ProviderJob,
    ProviderState,
    check_indexes,
)
from swapgate.providers.http import load_body
from swapgate.providers.local_webhook import send_webhook
from swapgate.providers.registry import PROVIDERS
from swapgate.storage import max_image_bytes

logger = logging.getLogger(__name__)

MAX_WORKERS = 2


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
        if not isinstance(job_id, str) or not jobs.JOB_ID_RE.match(job_id):
            raise ProviderJobNotFound("provider 'local' has no such job")
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=jobs.state_key(job_id))["Body"].read()
        except Exception as exc:
            if _is_missing(exc):
                raise ProviderJobNotFound("provider 'local' has no such job") from exc
            raise
        try:
            state = json.loads(body)
        except ValueError as exc:
            raise ProviderBadResponse("the local engine's job state is not JSON") from exc
        return jobs.job_from(state, provider=self.name, source="job state")

    def parse_webhook(self, body: bytes | str | dict[str, Any]) -> ProviderJob:
        payload = load_body(body, provider=self.name)
        job = jobs.job_from(payload, provider=self.name, source="webhook")
        if not job.state.terminal:
            raise ProviderBadResponse("local engine webhook must report succeeded or failed")
        return job

    # --- the job (its document: :mod:`~swapgate.providers.local_jobs`) -----------------------------

    def _write_state(self, job_id: str, state: dict[str, Any]) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=jobs.state_key(job_id),
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
        job_id = jobs.new_job_id()
        state = jobs.queued(job_id, operation)
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
            state = jobs.running(state)
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
            key = jobs.result_key(job_id, images.EXTENSIONS[kind])
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=result, ContentType=images.CONTENT_TYPES[kind]
            )
            state = jobs.succeeded(state, f"s3://{self.bucket}/{key}")
        except SwapgateError as exc:
            state = jobs.failed(state, exc.code, exc.message)
        except Exception as exc:  # never leave a job running because of a bug or an S3 outage
            logger.exception("local engine job crashed", extra={"error_type": type(exc).__name__})
            state = jobs.failed(state, "internal_error", "the local engine failed unexpectedly")
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
            send_webhook(self.http, webhook_url, state, sleep=self._sleep)

    # --- inputs ----------------------------------------------------------------------------------

    def _resolve(self, image: ImageInput, field: str, what: str) -> bytes:
        """The image's bytes: as given, or downloaded from its URL (checked, size-capped)."""
        if image.data is not None:
            return image.data
        try:
            return download(image.url or "", field=field, what=f"the {what}", limit=max_image_bytes())
        except RequestFailed as exc:
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
