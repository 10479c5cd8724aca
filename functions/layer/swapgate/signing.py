"""Signatures: provider callback tokens, and client webhooks signed as Standard Webhooks describes.

Receivers verify a client webhook with ``verify_webhook(body, headers, secret)``: it checks the
``webhook-id``, ``webhook-timestamp`` (within 5 minutes) and ``webhook-signature`` headers, and
returns the parsed JSON body.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from swapgate import config
from swapgate.errors import MissingSecret

__all__ = [
    "WebhookVerificationError",
    "callback_token",
    "check_callback_token",
    "sign_webhook",
    "verify_webhook",
]


def _signing_secret() -> bytes:
    secret = config.secret("SWAPGATE_SIGNING_SECRET")
    if not secret:
        raise MissingSecret("set SWAPGATE_SIGNING_SECRET (or SWAPGATE_SIGNING_SECRET_PARAM)")
    return secret.encode()


def callback_token(job_id: str) -> str:
    """The token a provider callback for ``job_id`` must carry: an HMAC of the job id."""
    message = f"callback:{job_id}".encode("utf-8", "surrogatepass")  # any id a URL can carry
    return hmac.new(_signing_secret(), message, hashlib.sha256).hexdigest()


def check_callback_token(job_id: str, token: str | None) -> bool:
    """Whether ``token`` is the callback token of ``job_id`` (compared in constant time; as bytes,
    since ``compare_digest`` refuses non-ASCII text)."""
    if not token:
        return False
    return hmac.compare_digest(callback_token(job_id).encode(), token.encode("utf-8", "surrogatepass"))


def webhook_secret() -> str:
    secret = config.secret("SWAPGATE_WEBHOOK_SECRET")
    if not secret:
        raise MissingSecret("set SWAPGATE_WEBHOOK_SECRET (or SWAPGATE_WEBHOOK_SECRET_PARAM)")
    return secret


def sign_webhook(
    message_id: str, body: str, secret: str, timestamp: datetime | None = None
) -> dict[str, str]:
    """The Standard Webhooks headers for ``body``. Retries reuse ``message_id``."""
    timestamp = timestamp or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def verify_webhook(body: bytes | str, headers: dict[str, str], secret: str) -> Any:
    """Verify a Swapgate webhook delivery; return its JSON body or raise WebhookVerificationError."""
    try:
        return Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        raise
    except ValueError as exc:  # malformed signature / body bytes: the library lets these through
        raise WebhookVerificationError("malformed webhook signature or body") from exc
