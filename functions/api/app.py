"""The public HTTPS API (v1), the provider compatibility routes and the playground page.

Thin on purpose: parse and validate (Powertools + pydantic), call the gateway in the layer, shape the
answer. OpenAPI and the Swagger UI are generated from these route definitions.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated

from swapgate import coldstart  # first: the light Powertools package faces (see swapgate.coldstart)

# isort: split
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.logging import correlation_paths
from swapgate import budget
from swapgate.errors import SwapgateError
from swapgate.jobs import Job
from swapgate.providers.base import Operation

from api_models import (
    MAX_ID_LENGTH,
    FacesRequest,
    FacesResponse,
    JobAccepted,
    JobView,
    MultiSwapRequest,
    SwapRequest,
    UploadTicket,
)
from api_support import (
    CACHED,
    IDEMPOTENCY,
    accepted,
    authorize,
    check_body_framing,
    error_event_response,
    extract_faces,
    gateway,
    image_source,
    install_error_handlers,
    job_view,
    load_job,
    read_json_body,
    submit_idempotent,
)
from compat_routes import ERROR_DIALECTS
from compat_routes import router as compat_router
from playground import playground_response
from provider_list import ProviderList, provider_list
from waiting import CancelAfterHeader, PreferHeader, job_timeout, request_start, requested_wait, waited

logger = Logger()
tracer = coldstart.LazyTracer()
metrics = Metrics()


def openapi_settings() -> dict:
    """The OpenAPI document's header: every operation takes the key as x-api-key or as a Bearer token.
    Built on first use: the OpenAPI models are heavy to import (swapgate.coldstart)."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer

    return {
        "title": "Swapgate",
        "version": "1",
        "description": "One API over face-swap providers.",
        "security_schemes": {
            "apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header, description="a client API key"),
            "bearer": HTTPBearer(description="the same key as `Authorization: Bearer <key>`"),
        },
        "security": [{"apiKey": []}, {"bearer": []}],
    }


app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=read_json_body)
install_error_handlers(app, ERROR_DIALECTS)
coldstart.snapstart(warm=tracer.load, refresh=CACHED)
SWAGGER_PATH = "/v1/docs"


@cache
def swagger() -> None:
    """The Swagger UI route, added by the first request for it: adding it loads the OpenAPI models."""
    app.enable_swagger(path=SWAGGER_PATH, **openapi_settings())  # assets inlined by Powertools: offline


#: API Gateway's integration timeout: the answer, with the job's id, must leave before it
API_GATEWAY_LIMIT_SECONDS = 29
#: what a request keeps for itself after the provider call: the job's move to running (with its
#: retries), the idempotency record and the answer
ANSWER_MARGIN_SECONDS = 4

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="retrying with the same key returns the first job",
        max_length=255,
    ),
]


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi_json():
    return Response(
        status_code=200,
        content_type="application/json",
        body=app.get_openapi_json_schema(**openapi_settings()),
    )


@app.get("/", include_in_schema=False)
def playground():
    return playground_response()


def _job(description: str) -> dict:
    """An answer carrying a job, maybe after waiting for it (``Preference-Applied``)."""
    applied = {"description": "`wait=N` when a `Prefer: wait` was honoured", "schema": {"type": "string"}}
    return {
        "description": description,
        "headers": {"Preference-Applied": applied},
        "content": {"application/json": {"model": JobView}},
    }


CREATED = {
    201: _job("with `Prefer: wait`: the job has ended (see `status`)"),
    202: _job("accepted: the job runs (with `Prefer: wait`: still running when the wait ended)"),
}


def _started() -> float:
    return request_start(app.current_event.request_context.request_time_epoch)


def _created(job: Job, wait: int | None, started: float) -> Response:
    """202 with the accepted job; with a wait preference, the job once it ends or the wait is over."""
    if wait is None:
        return accepted(JobAccepted(id=job.id, status=job.status, provider=job.provider, points=job.points))
    return waited(job, wait, started=started, context=app.lambda_context, ended_status=201)


@app.post("/v1/swaps", summary="Swap one face", responses=CREATED)
def create_swap(
    body: Annotated[SwapRequest, Body()],
    idempotency_key: IdempotencyKey = None,
    prefer: PreferHeader = None,
    cancel_after: CancelAfterHeader = None,
):
    """Swap the face in ``face_image`` into ``source_image``. ``Prefer: wait`` answers when the job
    ends (201) or after the wait (202); ``Cancel-After`` sets this job's deadline."""
    started, wait = _started(), requested_wait(prefer)
    job = submit_idempotent(
        Operation.SWAP,
        source=image_source("source_image", body.source_image),
        faces=[image_source("face_image", body.face_image)],
        provider=body.provider,
        webhook=body.webhook,
        idempotency_key=idempotency_key,
        timeout_seconds=job_timeout(cancel_after),
    )
    return _created(job, wait, started)


@app.post("/v1/swaps/multi", summary="Replace several faces", responses=CREATED)
def create_multi_swap(
    body: Annotated[MultiSwapRequest, Body()],
    idempotency_key: IdempotencyKey = None,
    prefer: PreferHeader = None,
    cancel_after: CancelAfterHeader = None,
):
    """Replace several faces of ``source_image``: ``face_images[i]`` goes to the face at ``indexes[i]``
    (the box order of POST /v1/faces). ``Prefer`` and ``Cancel-After`` as for POST /v1/swaps."""
    started, wait = _started(), requested_wait(prefer)
    job = submit_idempotent(
        Operation.MULTI_SWAP,
        source=image_source("source_image", body.source_image),
        faces=[image_source(f"face_images[{i}]", face) for i, face in enumerate(body.face_images)],
        indexes=body.indexes,
        provider=body.provider,
        webhook=body.webhook,
        idempotency_key=idempotency_key,
        timeout_seconds=job_timeout(cancel_after),
    )
    return _created(job, wait, started)


@app.post("/v1/faces", summary="Detect faces")
def find_faces(body: Annotated[FacesRequest, Body()]) -> FacesResponse:
    """Find the faces in ``image``: boxes ``[x1, y1, x2, y2]``; a box's position is its multi-swap index."""
    boxes = extract_faces(image_source("image", body.image), body.provider)
    return FacesResponse(faces=boxes.faces, points=boxes.cost)


@app.get(
    "/v1/swaps/<id>",
    summary="Get a job",
    responses={
        200: _job("the job (with `Prefer: wait`: it has ended)"),
        202: _job("with `Prefer: wait`: still running when the wait ended"),
    },
)
def get_swap(
    id: Annotated[str, Path(max_length=MAX_ID_LENGTH)], prefer: PreferHeader = None
) -> Response[JobView]:
    """A job's state; ``result_url`` is a short-lived link to this deployment's copy of the result.
    With ``Prefer: wait`` a long poll: the answer comes when the job ends (200) or after the wait (202)."""
    started, wait = _started(), requested_wait(prefer)
    job = load_job(id)
    if wait is None:
        return Response(status_code=200, content_type="application/json", body=job_view(job))
    return waited(job, wait, started=started, context=app.lambda_context, ended_status=200)


@app.post("/v1/swaps/<id>/cancel", summary="Cancel a job")
def cancel_swap(id: Annotated[str, Path(max_length=MAX_ID_LENGTH)]) -> JobView:
    """Cancel a queued or running job; a result arriving later is dropped."""
    job = load_job(id)
    return job_view(gateway().cancel(job.id))


@app.delete("/v1/swaps/<id>", summary="Delete a job's data")
def purge_swap(id: Annotated[str, Path(max_length=MAX_ID_LENGTH)]) -> JobView:
    """Cancel the job if it still runs, then remove its inputs, intermediate objects, result (every
    version) and personal fields; the job answers ``data_removed: true`` until its record expires."""
    job = load_job(id)
    return job_view(gateway().purge(job.id))


@app.post("/v1/uploads", summary="Upload a large image")
def create_upload() -> UploadTicket:
    """A presigned POST for one image too large for the API's body limit; pass ``reference`` on."""
    return UploadTicket(**gateway().storage.presigned_upload())


@app.get("/v1/providers", summary="List the providers")
def list_providers() -> ProviderList:
    """The providers, the operations each supports, and whether this deployment is configured for it."""
    return provider_list()


app.include_router(compat_router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    try:
        owner = authorize(event)
        check_body_framing(event)
    except SwapgateError as exc:
        return error_event_response(exc, event)
    if (event.get("path") or "").startswith(SWAGGER_PATH):
        swagger()
    app.append_context(owner=owner)
    IDEMPOTENCY.register_lambda_context(context)
    received_ms = (event.get("requestContext") or {}).get("requestTimeEpoch")
    left = budget.seconds_left(context, received_ms=received_ms, limit=API_GATEWAY_LIMIT_SECONDS)
    with budget.until(None if left is None else left - ANSWER_MARGIN_SECONDS):
        return app.resolve(event, context)
