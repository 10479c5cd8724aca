"""Compatibility routes: code written for aifaceswap.io or TTAPI works against Swapgate with only its
base URL and key changed. Requests and answers keep the imitated provider's shapes; the job runs on the
deployment's provider, and its result is this deployment's copy."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BeforeValidator, Field
from swapgate.errors import SwapgateError
from swapgate.jobs import Job
from swapgate.providers.base import Operation
from swapgate.views import ttapi_payload

from api_models import Image, StrictModel, _as_list
from api_support import (
    extract_faces,
    image_source,
    load_job,
    result_url,
    submit_idempotent,
)

router = Router()


# --- aifaceswap.io ------------------------------------------------------------------------------


class AifaceswapFaceswap(StrictModel):
    source_image: Image
    face_image: Image
    webhook: str | None = None


class AifaceswapExtractFace(StrictModel):
    img: Image


class AifaceswapMultiFaceswap(StrictModel):
    source_image: Image
    face_image: Annotated[list[Image], BeforeValidator(_as_list), Field(min_length=1, max_length=10)]
    index: Annotated[list[int], BeforeValidator(_as_list), Field(min_length=1, max_length=10)]
    webhook: str | None = None


def _envelope(data: dict) -> dict:
    return {"code": 200, "data": data, "message": "OK"}


def aifaceswap_error(exc: SwapgateError) -> dict:
    """aifaceswap.io's envelope around an error: its ``code`` is the HTTP status."""
    return {"code": exc.status, "data": None, "message": exc.message}


@router.post("/api/aifaceswap/v1/faceswap", tags=["aifaceswap compatible"])
def aifaceswap_faceswap(body: Annotated[AifaceswapFaceswap, Body()]) -> dict:
    job = submit_idempotent(
        Operation.SWAP,
        source=image_source("source_image", body.source_image),
        faces=[image_source("face_image", body.face_image)],
        provider=None,
        webhook=body.webhook,
        webhook_format="aifaceswap",
        idempotency_key=None,
    )
    return _envelope({"task_id": job.id, "points": job.points or 0})


@router.post("/api/aifaceswap/v1/extract_face", tags=["aifaceswap compatible"])
def aifaceswap_extract_face(body: Annotated[AifaceswapExtractFace, Body()]) -> dict:
    boxes = extract_faces(image_source("img", body.img), None)
    return _envelope({"faces": boxes.faces, "points": boxes.cost or 0})


@router.post("/api/aifaceswap/v1/multi_faceswap", tags=["aifaceswap compatible"])
def aifaceswap_multi_faceswap(body: Annotated[AifaceswapMultiFaceswap, Body()]) -> dict:
    job = submit_idempotent(
        Operation.MULTI_SWAP,
        source=image_source("source_image", body.source_image),
        faces=[image_source(f"face_image[{i}]", face) for i, face in enumerate(body.face_image)],
        indexes=body.index,
        provider=None,
        webhook=body.webhook,
        webhook_format="aifaceswap",
        idempotency_key=None,
    )
    return _envelope({"task_id": job.id, "points": job.points or 0})


# --- TTAPI --------------------------------------------------------------------------------------


class TtapiSwap(StrictModel):
    targetImage: str
    swapImage: str
    hookUrl: str | None = None


class TtapiFetch(StrictModel):
    jobId: str = Field(max_length=64)


def ttapi_error(exc: SwapgateError) -> dict:
    """An error in TTAPI's shape."""
    return {"status": "FAILED", "message": exc.message, "data": None}


def ttapi_job_body(job: Job) -> dict:
    """A job in the shape of TTAPI's fetch answer and hookUrl callback (shared with client webhooks)."""
    return ttapi_payload(job, result_url(job))


@router.post("/insightFace/v1/swap", tags=["TTAPI compatible"])
def ttapi_swap(body: Annotated[TtapiSwap, Body()]) -> dict:
    job = submit_idempotent(
        Operation.SWAP,
        source=image_source("targetImage", body.targetImage),
        faces=[image_source("swapImage", body.swapImage)],
        provider=None,
        webhook=body.hookUrl,
        webhook_format="ttapi",
        idempotency_key=None,
    )
    return {"status": "SUCCESS", "message": "", "data": {"jobId": job.id}}


@router.post("/insightFace/v1/fetch", tags=["TTAPI compatible"])
def ttapi_fetch(body: Annotated[TtapiFetch, Body()]) -> dict:
    return ttapi_job_body(load_job(body.jobId))


@router.get("/insightFace/v1/fetch", tags=["TTAPI compatible"])
def ttapi_fetch_query(jobId: Annotated[str, Query(max_length=64)]) -> dict:
    return ttapi_job_body(load_job(jobId))


#: how errors are answered on these routes (``api_support.install_error_handlers``), also before routing
ERROR_DIALECTS = {"/api/aifaceswap/": aifaceswap_error, "/insightFace/": ttapi_error}
