"""The local engine's webhook: the body it posts when a job ends, and its delivery, tried again with
backoff while the receiver is unreachable or busy (5xx, 408, 429); any other answer is final."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

import requests

from swapgate.errors import InvalidRequest
from swapgate.netsafety import check_url
from swapgate.retry import Backoff, call_with_retries

logger = logging.getLogger(__name__)

TIMEOUT = 10
ATTEMPTS = 3
BACKOFF = Backoff(base=0.5, cap=1.0)  # 0.5 s before the 2nd attempt, 1 s before the 3rd


class _NotYet(Exception):
    """A delivery worth trying again."""


def webhook_body(state: dict[str, Any]) -> dict[str, Any]:
    """What the webhook says about a finished job (its state document, without the timings)."""
    return {key: state[key] for key in ("job_id", "state", "result_url", "error")}


def send_webhook(
    session: requests.Session,
    url: str,
    state: dict[str, Any],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """POST the finished job to ``url``. Delivery problems are logged, never raised."""
    body = webhook_body(state)
    attempts = itertools.count(1)

    def post() -> None:
        attempt = next(attempts)
        check_url(url, "webhook")  # again each time: where the name points may have changed
        try:
            response = session.post(url, json=body, timeout=TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            logger.warning(
                "webhook delivery failed", extra={"attempt": attempt, "error_type": type(exc).__name__}
            )
            raise _NotYet from exc
        with response:
            if response.status_code < 300:
                return
            logger.warning(
                "webhook answered an error", extra={"attempt": attempt, "status": response.status_code}
            )
            if response.status_code >= 500 or response.status_code in (408, 429):
                raise _NotYet
            # the receiver refuses it: trying again will not help

    try:
        call_with_retries(
            post,
            attempts=ATTEMPTS,
            backoff=BACKOFF,
            retry_on=lambda exc: isinstance(exc, _NotYet),
            sleep=sleep,
        )
    except InvalidRequest:
        logger.warning("webhook URL refused", extra={"provider_job_id": state["job_id"]})
    except _NotYet:
        logger.error("webhook not delivered", extra={"provider_job_id": state["job_id"]})
