"""The jobs table's key scheme, written once.

One DynamoDB table, partition key ``id`` (string), TTL attribute ``expires_at`` (epoch seconds). Every
kind of item in it has its own ``id`` form, and every writer builds its ids here:

| item | ``id`` | written by |
|---|---|---|
| a job | ``job_<32 hex>`` (an inbox job's derived from its manifest version and index) | ``swapgate.jobs.JobStore`` |
| an inbox batch | ``manifest#<manifest key>`` | the inbox's batch record store |
| a rate-limit window | ``ratelimit#<owner digest>#<epoch minute>`` | ``swapgate.access.RateLimiter`` |
| an Idempotency-Key record | ``<function>.<name>#<md5 of the key>`` (Powertools' own form) | the API's idempotent submit |

Reads of jobs check that an item is a job (:func:`is_job_item`), so no other kind is ever taken for one.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from swapgate import config

#: the table's partition key and TTL attribute (template.yaml declares the same)
PARTITION_KEY = "id"
TTL_ATTRIBUTE = "expires_at"

JOB_PREFIX = "job_"
MANIFEST_PREFIX = "manifest#"
RATE_LIMIT_PREFIX = "ratelimit#"

DEFAULT_RETENTION_DAYS = 30


def new_job_id() -> str:
    return f"{JOB_PREFIX}{uuid.uuid4().hex}"


_JOB_ID = re.compile(rf"{JOB_PREFIX}[0-9a-f]{{32}}")


def is_job_id(value: str) -> bool:
    """Whether ``value`` has the form of a job id (what ``new_job_id`` makes)."""
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None


def inbox_job_id(manifest_key: str, version: str, index: int) -> str:
    """The id of a manifest's job: the same for every trigger that starts that version of it, so a
    retried or duplicate event can never start the job twice."""
    digest = hashlib.sha256(f"{manifest_key}|{version}|{index}".encode()).hexdigest()
    return f"{JOB_PREFIX}{digest[:32]}"


def request_job_id(owned_key: str, request_digest: str) -> str:
    """The id of the job an API request with an Idempotency-Key makes (``owned_key``: the key prefixed
    with its caller's owner id; ``request_digest``: the request's hash, as the idempotency record holds
    them): the same for every retry of that request, so a retry after the first try died (its
    idempotency record still in progress, then expired) finds the job instead of paying the provider
    for a second one. Another request under the same key, once the key's record has expired, is
    another job."""
    digest = hashlib.sha256(f"request|{owned_key}|{request_digest}".encode()).hexdigest()
    return f"{JOB_PREFIX}{digest[:32]}"


def item_key(item_id: str) -> dict[str, str]:
    return {PARTITION_KEY: item_id}


def is_job_item(item: Mapping[str, Any] | None) -> bool:
    """Whether a stored item is a job (not a batch, a counter or an idempotency record)."""
    return item is not None and "operation" in item


def manifest_record_id(manifest_key: str) -> str:
    return MANIFEST_PREFIX + manifest_key


def rate_limit_id(owner: str, window: int) -> str:
    return f"{RATE_LIMIT_PREFIX}{owner}#{window}"


def retention_days() -> int:
    return int(config.env("SWAPGATE_RETENTION_DAYS") or DEFAULT_RETENTION_DAYS)


def expires_at(now: float | None = None) -> int:
    """The TTL of a job or batch record made now: the deployment's retention."""
    return int(time.time() if now is None else now) + retention_days() * 86400
