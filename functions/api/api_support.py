"""What the API routes share: the gateway, the client's identity, errors, idempotent submit."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from swapgate import coldstart  # noqa: F401  first: the light Powertools package faces

# isort: split
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import UploadFile
from aws_lambda_powertools.utilities.idempotency.config import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from swapgate import access, config, keys, views
from swapgate.errors import InvalidRequest, JobNotFound, NotFound, SwapgateError, Unauthorized, field_problem
from swapgate.gateway import Gateway, ImageSource, SubmitRequest
from swapgate.jobs import Job
from swapgate.providers.base import FaceBoxes, Operation, check_indexes

from api_models import JobView

logger = Logger(child=True)

#: renders an error for the routes that imitate a provider
ErrorDialect = Callable[[SwapgateError], dict[str, Any]]

#: paths anyone may read: these prefixes, and the playground page at exactly "/"
PUBLIC_PATHS = ("/v1/docs", "/v1/openapi.json")
PUBLIC_PAGES = ("/",)

_app: Any = None  # the resolver, set by install_error_handlers
#: path prefix -> how errors are rendered there (the compatibility routes' dialects), set likewise
_dialects: dict[str, ErrorDialect] = {}


@cache
def gateway() -> Gateway:
    return Gateway.from_env()


@cache
def rate_limiter() -> access.RateLimiter:
    return access.RateLimiter(gateway().store.table)


def _headers() -> dict[str, str]:
    return {k.lower(): v for k, v in (_app.current_event.headers or {}).items()}


def authorize(event: dict) -> str | None:
    """The owner digest of the caller's valid API key (None on public paths), within its rate limit.

    Runs before routing, so that no route, not even its input validation, answers an unknown caller.
    """
    path = event.get("path") or ""
    if path in PUBLIC_PAGES or path.startswith(PUBLIC_PATHS):
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    owner = access.authenticate(headers)
    rate_limiter().hit(owner)
    return owner


def current_owner() -> str:
    owner = _app.context.get("owner")
    if owner is None:
        raise Unauthorized()
    return owner


def public_url() -> str:
    """Where providers call back: ``$SWAPGATE_PUBLIC_URL``, or this API's own address."""
    configured = config.env("SWAPGATE_PUBLIC_URL")
    if configured:
        return configured
    context = _app.current_event.request_context
    domain = context.domain_name
    stage = context.stage
    base = f"https://{domain}"
    return f"{base}/{stage}" if ".execute-api." in domain and stage else base


# --- errors ---------------------------------------------------------------------------------------


def error_body(exc: SwapgateError, path: str) -> dict[str, Any]:
    """The error in the caller's dialect: that of the provider a route imitates, or Swapgate's own."""
    for prefix, dialect in _dialects.items():
        if path.startswith(prefix):
            return dialect(exc)
    job = getattr(exc, "job", None)
    return {"error": {**exc.to_dict(), **({"job_id": job.id} if job else {})}}


def error_headers(exc: SwapgateError) -> dict[str, str]:
    return {"Retry-After": str(int(exc.retry_after))} if exc.retry_after else {}


def error_response(exc: SwapgateError) -> Response:
    if exc.status >= 500:
        logger.error("request failed", extra={"error_code": exc.code})
    return Response(
        status_code=exc.status,
        content_type="application/json",
        body=error_body(exc, _app.current_event.path),
        headers=error_headers(exc) or None,
    )


def error_event_response(exc: SwapgateError, event: dict) -> dict:
    """``error_response`` for errors raised before routing, as a proxy integration response."""
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": "application/json", **error_headers(exc)},
        "body": json.dumps(error_body(exc, event.get("path") or "")),
        "isBase64Encoded": False,
    }


BODY_FORMS = "a JSON object or multipart/form-data"


def _validation_error(exc: RequestValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "header", "path")]
    # the field and any list positions; union member tags such as "str" are not part of the name
    field = "".join(location[:1]) + "".join(f"[{p}]" for p in location[1:] if p.isdigit())
    kind = first.get("type", "")
    if not field or kind in ("json_invalid", "multipart_invalid"):  # the body as a whole
        missing = kind == "missing"
        message = f"a body is required: {BODY_FORMS}" if missing else f"the body must be {BODY_FORMS}"
        return error_response(InvalidRequest(message, field="body"))
    return error_response(InvalidRequest(field_problem(kind, field, first.get("msg", "")), field=field))


def check_body_framing(event: dict) -> None:
    """Refuse a body the resolver could not read, before anything tries to: flagged base64 but not
    base64, or multipart without a boundary (the resolver takes the first ``boundary=`` parameter)."""
    body = event.get("body")
    if event.get("isBase64Encoded") and body:
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(
                "the body is marked base64-encoded but is not base64", field="body"
            ) from None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type") or ""
    if content_type.strip().lower().startswith("multipart/"):
        params = [part.strip() for part in content_type.split(";")[1:]]
        boundary = next((p.removeprefix("boundary=") for p in params if p.startswith("boundary=")), "")
        if not boundary.strip('"'):
            raise InvalidRequest(
                "a multipart/form-data body needs a boundary in its Content-Type", field="body"
            )


def read_json_body(text: str) -> Any:
    """``json.loads`` for request bodies, every refusal a JSONDecodeError (answered 400 "the body must
    be ..."): an integer beyond Python's digit limit raises a plain ValueError otherwise, and deep
    nesting a RecursionError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from None


def install_error_handlers(app: Any, dialects: dict[str, ErrorDialect] | None = None) -> None:
    """Answer every error as JSON; under a prefix of ``dialects``, in that route family's shape."""
    global _app, _dialects
    _app = app
    _dialects = dict(dialects or {})

    @app.exception_handler(SwapgateError)
    def _swapgate_error(exc: SwapgateError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        return _validation_error(exc)

    @app.exception_handler(UnicodeError)
    def _undecodable(exc: UnicodeError) -> Response:
        # raised by the resolver reading the body: text that is not UTF-8 (a base64 JSON body, a
        # multipart text part or part header), or a multipart body sent as text beyond latin-1
        return error_response(InvalidRequest(f"the body must be {BODY_FORMS}, in UTF-8", field="body"))

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(exc: Exception) -> Response:
        return error_response(
            InvalidRequest(
                f"the body must be {BODY_FORMS}", field="body", code="unsupported_media_type", status=415
            )
        )

    @app.exception_handler(IdempotencyValidationError)
    def _reused(exc: Exception) -> Response:
        return error_response(
            InvalidRequest(
                "this Idempotency-Key was used with a different request",
                field="Idempotency-Key",
                code="idempotency_key_reused",
                status=422,
            )
        )

    @app.exception_handler(IdempotencyAlreadyInProgressError)
    def _in_progress(exc: Exception) -> Response:
        return error_response(
            InvalidRequest(
                "a request with this Idempotency-Key is in progress",
                field="Idempotency-Key",
                code="idempotency_in_progress",
                status=409,
            )
        )

    @app.not_found
    def _not_found(exc: Exception) -> Response:
        return error_response(
            NotFound(f"no route {_app.current_event.http_method} {_app.current_event.path}")
        )


# --- jobs -----------------------------------------------------------------------------------------


def image_source(field: str, value: str | UploadFile) -> ImageSource:
    if isinstance(value, UploadFile):
        return ImageSource(field=field, data=value.content)
    return ImageSource(field=field, url=value)


def submit_idempotent(
    operation: Operation,
    *,
    source: ImageSource,
    faces: list[ImageSource],
    provider: str | None,
    webhook: str | None,
    idempotency_key: str | None,
    indexes: Sequence[int] = (),
    webhook_format: str = "swapgate",
    timeout_seconds: int | None = None,
) -> Job:
    """Submit a job; with an Idempotency-Key, a retry of the same request returns the first job."""
    if operation is Operation.MULTI_SWAP:
        check_indexes(indexes, len(faces))
    request = SubmitRequest(
        operation=operation,
        source=source,
        faces=faces,
        indexes=list(indexes),
        provider=provider,
        webhook=webhook,
        webhook_format=webhook_format,
        owner=current_owner(),
        timeout_seconds=timeout_seconds,
    )
    if not idempotency_key:
        return gateway().submit(request, public_url())
    event = _app.current_event
    fingerprint = {
        "key": f"{current_owner()}:{idempotency_key}",
        "request": hashlib.sha256(
            f"{event.path}\n{event.body or ''}".encode("utf-8", "surrogatepass")
        ).hexdigest(),
    }
    job_id = _idempotent_submit()(fingerprint=fingerprint, request=request, public=public_url())
    return gateway().store.get(job_id)


#: how an Idempotency-Key is remembered (24 h); the handler registers each invocation's context on it,
#: so an in-progress record expires with the invocation that made it
IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="key", payload_validation_jmespath="request", expires_after_seconds=24 * 3600
)


@cache
def _idempotent_submit():
    # the persistence layer (and boto3 with it) loads with the first request that carries a key; from
    # the package face, which loads its modules in the order they need (swapgate.coldstart)
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

    persistence = DynamoDBPersistenceLayer(
        table_name=config.env("SWAPGATE_TABLE"), key_attr="id", expiry_attr="expires_at"
    )

    @idempotent_function(
        data_keyword_argument="fingerprint", config=IDEMPOTENCY, persistence_store=persistence
    )
    def submit_once(*, fingerprint: dict, request: SubmitRequest, public: str) -> str:
        # the job's id comes from the key: a try that died before its record here was saved left
        # the job behind, and the retry (once that record expires) must find it, not make another
        job_id = keys.request_job_id(fingerprint["key"], fingerprint["request"])
        return gateway().submit(request, public, job_id=job_id).id

    return submit_once


#: the factories whose clients a SnapStart restore must make anew
CACHED = (gateway, rate_limiter, _idempotent_submit)


def load_job(job_id: str) -> Job:
    """The caller's job, or 404 (also for another key's job: its existence is not disclosed; and for a
    job without an owner, an inbox job when no key owns them: ``access.inbox_owner``)."""
    if not keys.is_job_id(job_id):  # not a job id at all: nothing to look up
        raise NotFound(f"no job {job_id!r}", field="id")
    try:
        job = gateway().store.get(job_id)
    except JobNotFound:
        raise NotFound(f"no job {job_id!r}", field="id") from None
    if job.owner is None or job.owner != current_owner():
        raise NotFound(f"no job {job_id!r}", field="id")
    return job


def result_url(job: Job) -> str | None:
    return views.result_url(job, gateway().storage)


def job_view(job: Job) -> JobView:
    """GET /v1/swaps/{id}: the same fields as a client webhook (``swapgate.views``)."""
    return JobView(**views.job_payload(job, result_url(job)))


def accepted(model: Any) -> Response:
    return Response(status_code=202, content_type="application/json", body=model.model_dump())


def extract_faces(image: ImageSource, provider: str | None) -> FaceBoxes:
    chosen = gateway().provider_for(provider, Operation.EXTRACT_FACES)
    return chosen.extract_faces(gateway().host_image(image, []))
