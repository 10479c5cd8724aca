"""Running one built-in engine job: the same code in a thread of the local stack and in the EngineFunction.

``EngineRunner.run(job_id, seconds)`` reads the job's record (``engine/{job_id}.json``, written by the
provider at submit), takes the job with a conditional write (only a ``queued`` record is taken, and only
once: a retried or repeated invocation finds it taken and does nothing), reads or downloads the inputs,
runs the engine, stores the result at ``engine/{job_id}.png`` (``.jpg`` for a JPEG source), ends the
record and posts the webhook. ``detect(image)`` finds the faces of one image reference.

The engine (OpenCV, NumPy, MediaPipe) is imported on first use.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from swapgate import config, images
from swapgate.errors import InvalidImage, ProviderJobNotFound, SwapgateError
from swapgate.outbound import RequestFailed, download
from swapgate.providers import builtin_jobs as jobs
from swapgate.providers.builtin_webhook import send_webhook
from swapgate.storage import max_image_bytes

logger = logging.getLogger(__name__)

#: what a run on this machine may take before its record counts as abandoned (a thread has no
#: Lambda deadline; the EngineFunction passes its own remaining time instead)
THREAD_RUN_SECONDS = 300


class EngineRunner:
    """Runs jobs whose records are in ``bucket``; the S3 client, engine and HTTP session are made lazily."""

    def __init__(
        self,
        bucket: str | None = None,
        s3: Any = None,
        *,
        engine: Any = None,
        http: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bucket, self._s3 = bucket, s3
        self._engine, self._http, self._sleep = engine, http, sleep
        self._lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self._bucket or config.env("SWAPGATE_BUCKET") or ""

    @property
    def s3(self) -> Any:
        with self._lock:
            if self._s3 is None:
                import boto3

                self._s3 = boto3.client("s3")
            return self._s3

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from swapgate.engine import get_engine

            self._engine = get_engine()
        return self._engine

    @property
    def http(self) -> requests.Session:
        with self._lock:
            if self._http is None:
                self._http = requests.Session()
            return self._http

    # --- the job -------------------------------------------------------------------------------

    def run(self, job_id: str, seconds: float = THREAD_RUN_SECONDS) -> str:
        """Run the job if it is still queued; answers the state it ends in, or ``"skipped"``."""
        state = self._take(job_id, seconds)
        if state is None:
            return "skipped"
        started = time.perf_counter()
        try:
            result = self._swap(state["request"], state["operation"])
            kind = "jpeg" if result[:3] == b"\xff\xd8\xff" else "png"
            key = jobs.result_key(job_id, images.EXTENSIONS[kind])
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=result, ContentType=images.CONTENT_TYPES[kind]
            )
            state = jobs.succeeded(state, f"s3://{self.bucket}/{key}")
        except SwapgateError as exc:
            state = jobs.failed(state, exc.code, exc.message)
        except Exception as exc:  # never leave a job running because of a bug or an S3 outage
            logger.exception("engine job crashed", extra={"error_type": type(exc).__name__})
            state = jobs.failed(state, "internal_error", "the built-in engine failed unexpectedly")
        state["seconds"] = round(time.perf_counter() - started, 3)
        try:
            self._write(job_id, state)
        except Exception as exc:  # the record's deadline still ends the job
            logger.exception("could not store the job state", extra={"error_type": type(exc).__name__})
        logger.info(
            "engine job finished",
            extra={"provider_job_id": job_id, "state": state["state"], "seconds": state["seconds"]},
        )
        webhook_url = (state.get("request") or {}).get("webhook_url")
        if webhook_url:
            send_webhook(self.http, webhook_url, state, sleep=self._sleep)
        return state["state"]

    def _take(self, job_id: str, seconds: float) -> dict[str, Any] | None:
        """The record, now ``running``, if this call took the job; ``None`` if it was not queued."""
        if not jobs.JOB_ID_RE.match(job_id):
            raise ProviderJobNotFound("the built-in engine has no such job")
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=jobs.state_key(job_id))
        except Exception as exc:
            if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise ProviderJobNotFound("the built-in engine has no such job") from exc
            raise
        state = json.loads(obj["Body"].read())
        if state.get("state") != "queued" or jobs.is_stale(state):
            logger.info(
                "engine job not taken", extra={"provider_job_id": job_id, "state": state.get("state")}
            )
            return None
        state = jobs.running(state, seconds)
        try:
            self._write(job_id, state, if_match=obj["ETag"])
        except Exception as exc:
            if _error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                logger.info("engine job taken by another invocation", extra={"provider_job_id": job_id})
                return None
            raise
        return state

    def _swap(self, request: dict[str, Any], operation: str) -> bytes:
        faces = request["faces"]
        source = self.read(request["source"], "source_image", "source image")
        face_bytes = [
            self.read(face, "face_image", f"face image {n}" if len(faces) > 1 else "face image")
            for n, face in enumerate(faces)
        ]
        if operation == "swap":
            return self.engine.swap(source, face_bytes[0])
        return self.engine.multi_swap(source, face_bytes, request["indexes"])

    def _write(self, job_id: str, state: dict[str, Any], if_match: str | None = None) -> None:
        extra = {"IfMatch": if_match} if if_match else {}
        self.s3.put_object(
            Bucket=self.bucket,
            Key=jobs.state_key(job_id),
            Body=json.dumps(state).encode(),
            ContentType="application/json",
            **extra,
        )

    # --- faces and inputs ------------------------------------------------------------------------

    def detect(self, image: dict[str, str]) -> list[list[int]]:
        """The face boxes of one image reference (``{"key": ...}`` or ``{"url": ...}``)."""
        return self.engine.detect(self.read(image, "image", "image"))

    def read(self, image: dict[str, str], field: str, what: str) -> bytes:
        """An input's bytes: from the bucket (stored at submit) or downloaded (checked, size-capped)."""
        if "key" in image:
            key = image["key"]
            if not key.startswith(jobs.KEY_PREFIX):
                raise InvalidImage(f"the {what} is not an engine input", field=field)
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        try:
            return download(image["url"], field=field, what=f"the {what}", limit=max_image_bytes())
        except RequestFailed as exc:
            raise InvalidImage(f"the {what} {exc.reason}", field=field) from exc


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None
