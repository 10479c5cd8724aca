"""Provider webhooks: ``POST /callbacks/{provider}/{job_id}?token=...``.

The token is an HMAC of the job id, so only the provider we handed the URL to can finish the job.
Duplicate, late or out-of-order webhooks are harmless: the gateway's conditional transitions make
the first terminal word final, and a webhook for a finished job answers 200 and changes nothing.
The checks and the update are one use case, ``Gateway.accept_callback``; this shell shapes the answer.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from functools import cache

from swapgate import coldstart  # first: the light Powertools package faces (see swapgate.coldstart)

# isort: split
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from swapgate.errors import InvalidRequest, NotFound, SwapgateError, Unauthorized
from swapgate.gateway import Gateway

logger = Logger()
tracer = coldstart.LazyTracer()
metrics = Metrics()
app = APIGatewayRestResolver()


@cache  # one per execution environment, made on first use
def gateway() -> Gateway:
    return Gateway.from_env()


coldstart.snapstart(warm=tracer.load, refresh=(gateway,))


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, "application/json", {"error": {"code": code, "message": message}})


def _body() -> str | bytes:
    """The webhook body; bytes when API Gateway passed it base64-encoded (a binary media type). A
    body marked so that is not base64 is passed on as it came: refused as unreadable, after the token."""
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        with contextlib.suppress(binascii.Error, ValueError):
            return base64.b64decode(body, validate=True)
    return body


@app.post("/callbacks/<provider>/<job_id>")
def provider_callback(provider: str, job_id: str) -> Response:
    logger.append_keys(job_id=job_id, provider=provider)
    token = app.current_event.get_query_string_value("token")
    try:
        job = gateway().accept_callback(provider, job_id, token, _body())
    except (Unauthorized, NotFound) as exc:
        return _error(exc.status, exc.code, exc.message)
    except InvalidRequest as exc:
        return _error(400, exc.code, exc.message)
    except SwapgateError as exc:
        # retryable (e.g. the result could not be downloaded yet): a provider retry or the poller saves it
        logger.warning("callback not applied", extra={"error_code": exc.code})
        return _error(503 if exc.retryable else 400, exc.code, exc.message)
    return Response(200, "application/json", {"id": job.id, "status": str(job.status)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    return app.resolve(event, context)
