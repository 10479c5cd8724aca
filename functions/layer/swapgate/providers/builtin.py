"""The ``builtin`` provider (alias ``local``): the built-in face engine (:mod:`swapgate.engine`) behind the
provider interface, asynchronous like the remote providers.

* ``swap`` / ``multi_swap`` check their inputs cheaply (image headers, URL form, index lists), store
  inputs given as bytes under ``engine/{job_id}/``, write the job record ``engine/{job_id}.json``
  (:mod:`~swapgate.providers.builtin_jobs`: what to do, ``queued``, a deadline) to ``$SWAPGATE_BUCKET``
  and hand the job id to the engine (:mod:`~swapgate.providers.builtin_dispatch`): the EngineFunction
  on AWS (``$SWAPGATE_ENGINE_FUNCTION``), else a thread pool of this process. Either one runs the same
  :class:`~swapgate.providers.builtin_runner.EngineRunner`, which stores the result at
  ``engine/{job_id}.png`` (``.jpg`` when the source is a JPEG), ends the record and, when a
  ``webhook_url`` was given, POSTs the webhook (:mod:`~swapgate.providers.builtin_webhook`)::

      {"job_id": "builtin-<hex>", "state": "succeeded" | "failed",
       "result_url": "s3://<bucket>/engine/<job_id>.png" | null,
       "error": {"code": "...", "message": "..."} | null}

* ``fetch(job_id)`` reads the record (one past its deadline reads as failed); ``parse_webhook`` reads the
  webhook above. ``extract_faces`` answers synchronously. Engine errors (``no_face_detected``,
  ``face_index_out_of_range``, ``invalid_image``) end the job failed with that code and a message naming
  the image. The engine costs nothing: cost 0.
* URL inputs: https only, unless ``SWAPGATE_ALLOW_PRIVATE_URLS`` (the local stack, tests) also admits
  http and loopback hosts (presigned URLs of the local S3 on ``http://127.0.0.1:4566``).

This module imports neither OpenCV nor NumPy: the engine loads on the first job, where it runs.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import requests

from swapgate import config, images
from swapgate.engine.imageinfo import read_info
from swapgate.errors import ProviderBadResponse, ProviderJobNotFound, ProviderNotConfigured
from swapgate.netsafety import check_url
from swapgate.providers import builtin_jobs as jobs
from swapgate.providers.base import (
    FaceBoxes,
    ImageInput,
    Operation,
    Provider,
    ProviderJob,
    ProviderState,
    check_indexes,
)
from swapgate.providers.builtin_dispatch import LambdaDispatch, ThreadDispatch
from swapgate.providers.builtin_runner import EngineRunner
from swapgate.providers.http import load_body
from swapgate.providers.registry import PROVIDERS

logger = logging.getLogger(__name__)

ENGINE_FUNCTION_VAR = "SWAPGATE_ENGINE_FUNCTION"


def engine_available() -> bool:
    """Whether the ``local`` extra is installed here (checked without importing it)."""
    return all(importlib.util.find_spec(name) is not None for name in ("cv2", "numpy", "mediapipe"))


class BuiltinProvider(Provider):
    spec = PROVIDERS["builtin"]

    def __init__(
        self,
        bucket: str | None = None,
        s3: Any = None,
        executor: Executor | None = None,
        *,
        engine: Any = None,
        http: requests.Session | None = None,
        sleep=time.sleep,
        dispatch: Any = None,
    ) -> None:
        self._bucket, self._executor, self._dispatch, self._engine = bucket, executor, dispatch, engine
        # runs jobs in this process when there is no EngineFunction; it also makes the S3 client lazily
        self._runner = EngineRunner(bucket, s3, engine=engine, http=http, sleep=sleep)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"BuiltinProvider(bucket={self._bucket or config.env('SWAPGATE_BUCKET')!r})"

    # --- lazily built parts ----------------------------------------------------------------------

    @property
    def bucket(self) -> str:
        bucket = self._bucket or config.env("SWAPGATE_BUCKET")
        if not bucket:
            raise ProviderNotConfigured("provider 'builtin' needs a bucket for its jobs: set SWAPGATE_BUCKET")
        return bucket

    @property
    def s3(self) -> Any:
        return self._runner.s3

    @property
    def dispatch(self) -> ThreadDispatch | LambdaDispatch:
        """The EngineFunction when ``$SWAPGATE_ENGINE_FUNCTION`` names one, else a local thread pool."""
        with self._lock:
            if self._dispatch is None:
                function = config.env(ENGINE_FUNCTION_VAR)
                if function:
                    self._dispatch = LambdaDispatch(function)
                else:
                    self._dispatch = ThreadDispatch(self._runner, self._executor)
            return self._dispatch

    def _require_engine(self) -> None:
        """Refuse at once when the engine would run here and is not installed."""
        if self._engine is None and not config.env(ENGINE_FUNCTION_VAR) and not engine_available():
            raise ProviderNotConfigured(
                "provider 'builtin' is not available: install the 'local' extra "
                "(pip install 'swapgate[local]', Python 3.11 or 3.12), or deploy the EngineFunction"
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
        faces = self.dispatch.detect(
            image, lambda: self._reference(image, f"detect-{uuid.uuid4().hex}", "image")
        )
        return FaceBoxes(faces=faces, cost=0)

    def fetch(self, job_id: str) -> ProviderJob:
        if not isinstance(job_id, str) or not jobs.JOB_ID_RE.match(job_id):
            raise ProviderJobNotFound("provider 'builtin' has no such job")
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=jobs.state_key(job_id))["Body"].read()
        except Exception as exc:
            if _is_missing(exc):
                raise ProviderJobNotFound("provider 'builtin' has no such job") from exc
            raise
        try:
            state = json.loads(body)
        except ValueError as exc:
            raise ProviderBadResponse("the built-in engine's job record is not JSON") from exc
        if not isinstance(state, dict):
            raise ProviderBadResponse("the built-in engine's job record is not a JSON object")
        return jobs.job_from(state, provider=self.name, source="job record")

    def parse_webhook(self, body: bytes | str | dict[str, Any]) -> ProviderJob:
        payload = load_body(body, provider=self.name)
        job = jobs.job_from(payload, provider=self.name, source="webhook")
        if not job.state.terminal:
            raise ProviderBadResponse("built-in engine webhook must report succeeded or failed")
        return job

    # --- the job ----------------------------------------------------------------------------------

    def _start(
        self,
        operation: Operation,
        source: ImageInput,
        faces: list[ImageInput],
        indexes: list[int] | None,
        webhook_url: str | None,
    ) -> ProviderJob:
        job_id = jobs.new_job_id()
        dispatch = self.dispatch  # before anything is stored: a missing setting stores nothing
        request = {
            "source": self._reference(source, job_id, "source"),
            "faces": [self._reference(face, job_id, f"face-{n}") for n, face in enumerate(faces)],
            "indexes": indexes,
            "webhook_url": webhook_url,
        }
        self.s3.put_object(
            Bucket=self.bucket,
            Key=jobs.state_key(job_id),
            Body=json.dumps(jobs.queued(job_id, operation, request)).encode(),
            ContentType="application/json",
        )
        dispatch.submit(job_id)
        logger.info("engine job queued", extra={"provider_job_id": job_id})
        return ProviderJob(self.name, job_id, ProviderState.QUEUED, cost=0)

    def _reference(self, image: ImageInput, job_id: str, name: str) -> dict[str, str]:
        """Where the engine finds an input: its URL, or the bucket key its bytes are stored at."""
        if image.data is None:
            return {"url": image.url or ""}
        kind = images.sniff(image.data) or "png"
        key = jobs.input_key(job_id, name, images.EXTENSIONS[kind])
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=image.data, ContentType=images.CONTENT_TYPES[kind]
        )
        return {"key": key}


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
