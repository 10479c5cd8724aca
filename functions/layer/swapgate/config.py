"""Settings from the environment. Secrets come from the environment or, when only ``<NAME>_PARAM``
is set, from SSM Parameter Store through Powertools parameters (decrypted, cached for 5 minutes)."""

from __future__ import annotations

import os

SECRET_CACHE_SECONDS = 300


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def secret(name: str) -> str | None:
    """The secret ``name``: ``$name`` if set, else the SSM parameter named by ``$name_PARAM``."""
    value = env(name)
    if value is not None:
        return value
    parameter = env(f"{name}_PARAM")
    if parameter is None:
        return None
    from aws_lambda_powertools.utilities import parameters  # only paid for when SSM is used

    return parameters.get_parameter(parameter, decrypt=True, max_age=SECRET_CACHE_SECONDS)


def flag(name: str) -> bool:
    return (env(name) or "").lower() in ("1", "true", "yes", "on")


def allow_private_urls() -> bool:
    """Only the local stack and tests turn this on: http and loopback URLs become acceptable."""
    return flag("SWAPGATE_ALLOW_PRIVATE_URLS")
