"""The API client alone against the loopback fake: retries of 429/503 paced by Retry-After, and how
error answers become ApiError."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest
from cli_fakeapi import API_KEY
from swapgate_cli.client import RETRIES, RETRY_AFTER_CAP, Client
from swapgate_cli.errors import ApiError

BUSY = {"error": {"code": "rate_limited", "message": "too many requests"}}


@pytest.fixture
def client(api):
    client = Client(api.base_url, API_KEY, timeout=5)
    yield client
    client.close()


def _http_date(seconds_from_now: float) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


def test_a_429_is_retried_after_its_retry_after_with_the_same_body_and_idempotency_key(api, client, clock):
    api.answer_once("POST", "/v1/swaps", 429, BUSY, {"Retry-After": "7"})
    accepted = client.submit("/v1/swaps", [("source_image", "https://a.example/1.jpg")])
    assert accepted["id"] == "job0001"
    assert clock.sleeps == [7.0]
    first, second = api.of("POST", "/v1/swaps")
    assert second.at - first.at == 7.0
    assert first.body == second.body
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


@pytest.mark.parametrize(
    ("retry_after", "waited"),
    [
        (None, 1.0),  # none named: a second
        ("soon", 1.0),  # unreadable: a second
        ("0", 0.0),
        ("120", RETRY_AFTER_CAP),  # longer than the cap: the cap, and still retried
        (_http_date(-60), 0.0),  # a date already past
        (_http_date(3600), RETRY_AFTER_CAP),
    ],
)
def test_a_503s_retry_after_paces_the_retry(api, client, clock, retry_after, waited):
    headers = {"Retry-After": retry_after} if retry_after else {}
    api.answer_once("GET", "/v1/swaps/job0001", 503, BUSY, headers)
    with pytest.raises(ApiError) as raised:  # the retry reaches the fake's router: no such job
        client.call("GET", "/v1/swaps/job0001")
    assert raised.value.status == 404
    assert clock.sleeps == [waited]


def test_a_retry_after_as_a_date_waits_until_then(api, client, clock):
    api.answer_once("GET", "/v1/swaps/job0001", 503, BUSY, {"Retry-After": _http_date(10)})
    with pytest.raises(ApiError):
        client.call("GET", "/v1/swaps/job0001")
    (waited,) = clock.sleeps
    assert 8.0 < waited <= 10.0


def test_a_429_that_persists_raises_the_last_answer_after_all_attempts(api, client, clock):
    for seconds in ("1", "2", "3"):
        api.answer_once("GET", "/v1/swaps/job0001", 429, BUSY, {"Retry-After": seconds})
    with pytest.raises(ApiError) as raised:
        client.call("GET", "/v1/swaps/job0001")
    assert (raised.value.status, raised.value.code) == (429, "rate_limited")
    assert raised.value.message == "rate_limited: too many requests"
    assert len(api.of("GET", "/v1/swaps/job0001")) == RETRIES == 3
    assert clock.sleeps == [1.0, 2.0]  # no wait after the last attempt


@pytest.mark.parametrize("status", [400, 404, 500, 502, 504])
def test_other_errors_are_not_retried(api, client, clock, status):
    api.answer_once("GET", "/v1/swaps/job0001", status, {"error": {"code": "x", "message": "y"}})
    with pytest.raises(ApiError) as raised:
        client.call("GET", "/v1/swaps/job0001")
    assert raised.value.status == status
    assert len(api.of("GET", "/v1/swaps/job0001")) == 1 and clock.sleeps == []


def test_an_error_answer_maps_to_status_code_message_and_field(api, client):
    body = {"error": {"code": "invalid_image", "message": "not an image", "field": "face_image"}}
    api.answer_once("POST", "/v1/faces", 400, body)
    with pytest.raises(ApiError) as raised:
        client.call("POST", "/v1/faces")
    error = raised.value
    assert (error.status, error.code, error.field, error.exit_code) == (400, "invalid_image", "face_image", 1)
    assert error.message == "invalid_image: not an image (field: face_image)"


def test_a_401_names_the_key_options(api, client):
    client.session.headers["x-api-key"] = "wrong"
    with pytest.raises(ApiError) as raised:
        client.call("GET", "/v1/swaps/job0001")
    assert raised.value.status == 401
    assert raised.value.message == (
        "unauthorized: the API key is not valid - pass --api-key or set SWAPGATE_API_KEY"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>fine</html>", "invalid_answer: the API answer is not JSON"),
        ([1, 2], "invalid_answer: the API answer is not a JSON object"),
    ],
)
def test_a_success_that_is_not_a_json_object_is_an_invalid_answer(api, client, body, message):
    api.answer_once("GET", "/v1/swaps/job0001", 200, body)
    with pytest.raises(ApiError) as raised:
        client.call("GET", "/v1/swaps/job0001")
    assert (raised.value.status, raised.value.message) == (200, message)
