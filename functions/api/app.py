"""The public HTTPS API (v1) and the provider compatibility routes.

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
from swapgate.errors import SwapgateError
from swapgate.providers.base import Operation

from api_models import (
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
    submit_idempotent,
)
from compat_routes import ERROR_DIALECTS
from compat_routes import router as compat_router

logger = Logger()
tracer = coldstart.LazyTracer()
metrics = Metrics()

app = APIGatewayRestResolver(enable_validation=True)
install_error_handlers(app, ERROR_DIALECTS)
coldstart.snapstart(warm=tracer.load, refresh=CACHED)
SWAGGER_PATH = "/v1/docs"


@cache
def swagger() -> None:
    """The Swagger UI route, added by the first request for it: adding it loads the OpenAPI models."""
    app.enable_swagger(
        path=SWAGGER_PATH, title="Swapgate", version="1", description="One API over face-swap providers."
    )


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
    return Response(status_code=200, content_type="application/json", body=app.get_openapi_json_schema())


@app.post("/v1/swaps", responses={202: {"description": "accepted", "content": {"application/json": {}}}})
def create_swap(body: Annotated[SwapRequest, Body()], idempotency_key: IdempotencyKey = None):
    """Swap the face in ``face_image`` into ``source_image``."""
    job = submit_idempotent(
        Operation.SWAP,
        source=image_source("source_image", body.source_image),
        faces=[image_source("face_image", body.face_image)],
        provider=body.provider,
        webhook=body.webhook,
        idempotency_key=idempotency_key,
    )
    return accepted(JobAccepted(id=job.id, status=job.status, provider=job.provider, points=job.points))


@app.post("/v1/swaps/multi")
def create_multi_swap(body: Annotated[MultiSwapRequest, Body()], idempotency_key: IdempotencyKey = None):
    """Replace several faces of ``source_image``: ``face_images[i]`` goes to the face at ``indexes[i]``."""
    job = submit_idempotent(
        Operation.MULTI_SWAP,
        source=image_source("source_image", body.source_image),
        faces=[image_source(f"face_images[{i}]", face) for i, face in enumerate(body.face_images)],
        indexes=body.indexes,
        provider=body.provider,
        webhook=body.webhook,
        idempotency_key=idempotency_key,
    )
    return accepted(JobAccepted(id=job.id, status=job.status, provider=job.provider, points=job.points))


@app.post("/v1/faces")
def find_faces(body: Annotated[FacesRequest, Body()]) -> FacesResponse:
    """Find the faces in ``image``: boxes ``[x1, y1, x2, y2]``; a box's position is its multi-swap index."""
    boxes = extract_faces(image_source("image", body.image), body.provider)
    return FacesResponse(faces=boxes.faces, points=boxes.cost)


@app.get("/v1/swaps/<id>")
def get_swap(id: Annotated[str, Path(max_length=64)]) -> JobView:
    """A job's state; ``result_url`` is a short-lived link to this deployment's copy of the result."""
    return job_view(load_job(id))


@app.post("/v1/swaps/<id>/cancel")
def cancel_swap(id: Annotated[str, Path(max_length=64)]) -> JobView:
    """Cancel a queued or running job; a result arriving later is dropped."""
    job = load_job(id)
    return job_view(gateway().cancel(job.id))


@app.post("/v1/uploads")
def create_upload() -> UploadTicket:
    """A presigned POST for one image too large for the API's body limit; pass ``reference`` on."""
    return UploadTicket(**gateway().storage.presigned_upload())


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
    return app.resolve(event, context)
