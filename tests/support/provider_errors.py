"""The HTTP error rows the hosted providers share: (fault the fake injects, error raised, HTTP status)."""

from __future__ import annotations

from swapgate import errors

HTTP_ERROR_ROWS = [
    ("bad_key", errors.ProviderAuthFailed, 401),
    ("blocked", errors.ProviderAccountBlocked, 403),
    ("invalid_input", errors.ProviderInvalidInput, 400),
    ("not_found", errors.ProviderJobNotFound, 404),
    ("rate_limited", errors.ProviderRateLimited, 429),
    ("queue_full", errors.ProviderBusy, 499),
    ("server_error", errors.ProviderBusy, 500),
    ("gateway_timeout", errors.ProviderBusy, 504),
]
