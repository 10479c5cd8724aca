"""The status -> error table, row by row, and the message rules that sharpen it (no network here;
the same rows are exercised over sockets in test_http_client / test_aifaceswap / test_ttapi)."""

from datetime import UTC, datetime

import pytest
from swapgate import errors
from swapgate.providers.http_errors import (
    STATUS_ERRORS,
    error_class_for,
    error_for,
    message_code,
    parse_retry_after,
)

TABLE = [
    (400, errors.ProviderInvalidInput, "provider_invalid_input", False),
    (401, errors.ProviderAuthFailed, "provider_auth_failed", False),
    (402, errors.ProviderQuotaExhausted, "provider_quota_exhausted", False),
    (403, errors.ProviderAccountBlocked, "provider_account_blocked", False),
    (404, errors.ProviderJobNotFound, "provider_job_not_found", False),
    (429, errors.ProviderRateLimited, "provider_rate_limited", True),
    (499, errors.ProviderBusy, "provider_busy", True),
    (500, errors.ProviderBusy, "provider_busy", True),
    (502, errors.ProviderBusy, "provider_busy", True),
    (503, errors.ProviderBusy, "provider_busy", True),
    (504, errors.ProviderBusy, "provider_busy", True),
]


@pytest.mark.parametrize(("status", "cls", "code", "retryable"), TABLE)
def test_table_row(status, cls, code, retryable):
    assert STATUS_ERRORS[status] is cls
    error = error_for(status, "some reason", provider="ttapi")
    assert type(error) is cls
    assert error.code == code
    assert error.retryable is retryable
    assert error.provider_status == status
    assert "ttapi" in error.message and str(status) in error.message and "some reason" in error.message


def test_table_has_exactly_the_documented_rows_plus_obvious_neighbours():
    assert set(STATUS_ERRORS) == {r[0] for r in TABLE} | {408, 413, 415, 422}


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (405, errors.ProviderInvalidInput),
        (418, errors.ProviderInvalidInput),
        (501, errors.ProviderBusy),
        (599, errors.ProviderBusy),
        (302, errors.ProviderBadResponse),
        (1001, errors.ProviderError),
        (None, errors.ProviderError),
    ],
)
def test_statuses_outside_the_table(status, cls):
    assert error_class_for(status) is cls


def test_rate_limited_carries_retry_after_and_others_do_not():
    assert error_for(429, "", provider="p", retry_after=7.0).retry_after == 7.0
    assert error_for(503, "", provider="p", retry_after=7.0).retry_after is None


@pytest.mark.parametrize(
    "message",
    [
        "Insufficient balance",
        "insufficient quota, please recharge",
        "Your points are not enough",
        "not enough credits",
        "quota exceeded",
        "INSUFFICIENT FUNDS",
    ],
)
def test_quota_messages_turn_vague_failures_into_quota_exhausted(message):
    for status in (400, 422, 1001, None):
        assert error_class_for(status, message) is errors.ProviderQuotaExhausted, status
    assert message_code(message) == "provider_quota_exhausted"


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 504])
def test_quota_words_never_override_explicit_rows(status):
    assert error_class_for(status, "insufficient balance") is STATUS_ERRORS[status]


@pytest.mark.parametrize(
    "message",
    ["No face detected in source image", "face not found", "could not detect any face", "no faces"],
)
def test_no_face_messages(message):
    assert error_class_for(400, message) is errors.NoFaceDetected
    assert message_code(message) == "no_face_detected"


@pytest.mark.parametrize(
    "message", ["insufficient permissions", "image resolution insufficient", "bad image", "", None]
)
def test_ordinary_messages_keep_the_row(message):
    assert error_class_for(400, message or "") is errors.ProviderInvalidInput
    assert message_code(message) is None


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now=lambda: now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=lambda: now) == 0.0
