"""The EngineFunction: the built-in face engine on AWS (python3.12, x86_64; built by ./Makefile).

Invoked by the ``builtin`` provider (``swapgate.providers.builtin_dispatch``, which holds the event
contract): asynchronously to run one queued job (its record says what to do; the result and the record
go under ``engine/`` and the webhook to the gateway's callback URL, as for any provider), and
synchronously to detect the faces of one image. A job that was already taken is not run again, so
Lambda's retries of an async event are harmless.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger
from swapgate.providers.builtin_dispatch import EngineEvent
from swapgate.providers.builtin_runner import THREAD_RUN_SECONDS, EngineRunner

logger = Logger()


@cache  # one per execution environment; the engine's models load on the first event
def runner() -> EngineRunner:
    return EngineRunner()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context: object) -> dict:
    request = EngineEvent.parse(event)
    logger.append_keys(action=request.action, provider_job_id=request.job_id)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    seconds = remaining() / 1000 if remaining else THREAD_RUN_SECONDS
    return request.handle(runner(), seconds)
