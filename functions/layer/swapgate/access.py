"""Client authentication and per-key throttling.

Clients send their key as ``x-api-key``; compatibility routes also accept the header of the provider
they imitate (``Authorization: Bearer`` or ``TT-API-KEY``). Keys are compared in constant time and
never logged: jobs and counters carry a digest (``owner``) instead.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from swapgate import config, keys
from swapgate.errors import RateLimited, Unauthorized

DEFAULT_RATE_LIMIT_PER_MINUTE = 120


def key_digest(api_key: str) -> str:
    """A key's owner digest: what jobs and counters store for it (never the key)."""
    return hashlib.sha256(f"swapgate-key:{api_key}".encode()).hexdigest()[:24]


def inbox_owner() -> str | None:
    """The owner of the jobs ``inbox/`` manifests start: ``$SWAPGATE_INBOX_OWNER``, the digest of the
    API key that may read and cancel them. Unset: no key may (a job without an owner is no key's);
    their outbox records are their only report."""
    return config.env("SWAPGATE_INBOX_OWNER")


def presented_key(headers: dict[str, str]) -> str | None:
    """The API key in ``headers`` (lower-cased names), from any of the accepted headers."""
    if headers.get("x-api-key"):
        return headers["x-api-key"].strip()
    if headers.get("tt-api-key"):
        return headers["tt-api-key"].strip()
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def authenticate(headers: dict[str, str]) -> str:
    """The owner digest of a valid key in ``headers``; Unauthorized otherwise."""
    key = presented_key(headers)
    configured = [k.strip() for k in (config.secret("SWAPGATE_API_KEYS") or "").split(",") if k.strip()]
    if key is None:
        raise Unauthorized("missing API key: send it in the x-api-key header")
    matched = False
    presented = key.encode("utf-8", "surrogatepass")  # whatever text a header carried
    for candidate in configured:  # compare against every key so timing does not tell which matched
        matched |= hmac.compare_digest(candidate.encode(), presented)
    if not matched:
        raise Unauthorized("the API key is not valid")
    return key_digest(key)


class RateLimiter:
    """A fixed one-minute window per key, counted in the jobs table with a conditional update."""

    def __init__(self, table: Any, per_minute: int | None = None, clock=time.time) -> None:
        self.table = table
        self.per_minute = per_minute or int(
            config.env("SWAPGATE_RATE_LIMIT_PER_MINUTE") or DEFAULT_RATE_LIMIT_PER_MINUTE
        )
        self.clock = clock

    def hit(self, owner: str) -> None:
        now = self.clock()
        window = int(now // 60)
        try:
            self.table.update_item(
                Key=keys.item_key(keys.rate_limit_id(owner, window)),
                UpdateExpression="ADD hits :one SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(hits) OR hits < :limit",
                ExpressionAttributeValues={
                    ":one": 1,
                    ":limit": self.per_minute,
                    ":expires": (window + 2) * 60,
                },
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            retry_after = max(1, int((window + 1) * 60 - now))
            raise RateLimited(
                f"more than {self.per_minute} requests a minute for this API key", retry_after=retry_after
            ) from None
