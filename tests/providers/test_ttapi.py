"""The TTAPI adapter against the loopback fake: request shapes as the API page shows them, every
status word, job ids under both keys, fetch by POST and GET, every error row, webhooks, refusals."""

from __future__ import annotations

import pytest
from support import PROVIDER_KEY as KEY
from support.provider_errors import HTTP_ERROR_ROWS
from swapgate import errors
from swapgate.providers.base import ImageInput, Operation, ProviderState
from swapgate.providers.ttapi import TtapiProvider
from swapgate_dev.fakes import FakeTtapi
from swapgate_dev.fakes.ttapi import FETCH, SWAP

TARGET = "https://cdnb.ttapi.io/2024-04-23/tar_image.jpg"  # our source: the face gets replaced here
FACE = "https://cdnb.ttapi.io/2024-04-23/face_image.jpg"
HOOK = "https://gateway.example/callbacks/ttapi/job-1?token=abc"


def swap(provider, hook=None):
    return provider.swap(ImageInput.from_url(TARGET), ImageInput.from_url(FACE), hook)


def assert_auth(req):
    assert req.headers["TT-API-KEY"] == KEY
    assert "Authorization" not in req.headers


# --- request shapes -------------------------------------------------------------------------------


def test_swap_sends_the_documented_json(fake_ttapi, ttapi):
    job = swap(ttapi, HOOK)
    (req,) = fake_ttapi.requests_to(SWAP)
    assert req.method == "POST"
    assert_auth(req)
    assert req.kind == "json"
    assert req.json == {"targetImage": TARGET, "swapImage": FACE, "hookUrl": HOOK}
    assert job.provider == "ttapi"
    assert job.state is ProviderState.RUNNING
    assert job.job_id in fake_ttapi.jobs
    assert job.job_id.startswith("SWAP-FACE-")
    assert fake_ttapi.jobs[job.job_id].inputs == {"targetImage": TARGET, "swapImage": FACE}


def test_swap_without_hook_sends_no_hook_url(fake_ttapi, ttapi):
    swap(ttapi)
    assert fake_ttapi.requests_to(SWAP)[0].json == {"targetImage": TARGET, "swapImage": FACE}


def test_job_id_under_the_newer_key(sleeper):
    with FakeTtapi(api_key=KEY, delay=0.05, job_id_key="job_id") as fake:
        provider = TtapiProvider(KEY, fake.base_url, sleep=sleeper)
        job = swap(provider)
        assert job.job_id in fake.jobs


def test_fetch_by_post_json_body(fake_ttapi, ttapi):
    job = swap(ttapi)
    ttapi.fetch(job.job_id)
    (req,) = fake_ttapi.requests_to(FETCH)
    assert req.method == "POST"
    assert_auth(req)
    assert req.kind == "json"
    assert req.json == {"jobId": job.job_id}
    assert req.query == {}


def test_fetch_by_get_query(fake_ttapi, sleeper):
    provider = TtapiProvider(KEY, fake_ttapi.base_url, fetch_method="GET", sleep=sleeper)
    job = swap(provider)
    provider.fetch(job.job_id)
    (req,) = fake_ttapi.requests_to(FETCH)
    assert req.method == "GET"
    assert_auth(req)
    assert req.query == {"jobId": [job.job_id]}
    assert req.body == b""


class GetOnlyTtapi(FakeTtapi):
    """A TTAPI whose fetch answers only GET (405 to POST)."""

    routes = {SWAP: frozenset({"POST"}), FETCH: frozenset({"GET"})}


def test_fetch_falls_back_to_get_when_post_is_not_allowed(sleeper):
    with GetOnlyTtapi(api_key=KEY, delay=0.05) as fake:
        provider = TtapiProvider(KEY, fake.base_url, sleep=sleeper)
        job = swap(provider)
        assert provider.fetch(job.job_id).job_id == job.job_id
        assert provider.fetch(job.job_id).job_id == job.job_id
        methods = [(r.method, r.status) for r in fake.requests_to(FETCH)]
        assert methods == [("POST", 405), ("GET", 200), ("GET", 200)]  # remembered after one 405
        assert provider.fetch_method == "GET"


# --- states -----------------------------------------------------------------------------------------


def test_every_status_word_over_fetch(sleeper):
    with FakeTtapi(api_key=KEY, delay=30.0) as fake:
        provider = TtapiProvider(KEY, fake.base_url, sleep=sleeper)
        job_id = swap(provider).job_id
        fake_job = fake.jobs[job_id]

        assert fake.webhook_body(fake_job)["status"] == "PENDING_QUEUE"
        pending = provider.fetch(job_id)
        assert (pending.state, pending.result_url) == (ProviderState.RUNNING, None)

        fake_job.started -= 15  # past a third of the delay: the fake reports ON_QUEUE
        assert fake.webhook_body(fake_job)["status"] == "ON_QUEUE"
        running = provider.fetch(job_id)
        assert (running.state, running.result_url) == (ProviderState.RUNNING, None)

        fake_job.started -= 30  # past the delay: SUCCESS
        assert fake.webhook_body(fake_job)["status"] == "SUCCESS"
        done = provider.fetch(job_id)
        assert done.state is ProviderState.SUCCEEDED
        assert done.job_id == job_id
        assert done.result_url == fake_job.result_urls["cdnImage"]  # cdnImage, never discordImage
        assert "?" in done.result_url
        assert done.cost == 2
        assert done.error_code is None


def wait_until_finished(fake, job_id, provider, timeout=5.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = provider.fetch(job_id)
        if job.state.terminal:
            return job
        time.sleep(0.02)
    raise AssertionError("the job did not finish")


def test_failed_job_carries_the_message(fake_ttapi, ttapi):
    fake_ttapi.inject("job_failed", message="content violation: nsfw")
    job_id = swap(ttapi).job_id
    job = wait_until_finished(fake_ttapi, job_id, ttapi)
    assert job.state is ProviderState.FAILED
    assert job.error_message == "content violation: nsfw"
    assert job.error_code == "provider_job_failed"
    assert job.result_url is None
    assert job.cost == 0


def test_failed_job_for_lack_of_quota_is_coded_as_quota(fake_ttapi, ttapi):
    fake_ttapi.inject("job_failed", message="Insufficient quota")
    job = wait_until_finished(fake_ttapi, swap(ttapi).job_id, ttapi)
    assert job.state is ProviderState.FAILED
    assert job.error_code == "provider_quota_exhausted"
    assert job.error_message == "Insufficient quota"


def body(status, **data):
    return {"status": status, "jobId": "SWAP-FACE-1", "data": {"jobId": "SWAP-FACE-1", **data}}


@pytest.mark.parametrize(
    ("payload", "state", "url"),
    [
        (body("PENDING_QUEUE"), ProviderState.RUNNING, None),
        (body("ON_QUEUE"), ProviderState.RUNNING, None),
        (body("SUCCESS", cdnImage="https://mjcdn.ttapi.io/a.jpg", discordImage="https://d/a.jpg"),
         ProviderState.SUCCEEDED, "https://mjcdn.ttapi.io/a.jpg"),
        (body("SUCCESS", cdnImage=None, discordImage="https://cdn.discordapp.com/a.jpg?ex=1&"),
         ProviderState.SUCCEEDED, "https://cdn.discordapp.com/a.jpg?ex=1&"),
        (body("SUCCESS", cdnImage="", discordImage="https://cdn.discordapp.com/b.jpg"),
         ProviderState.SUCCEEDED, "https://cdn.discordapp.com/b.jpg"),
        ({**body("FAILED"), "message": "bad"}, ProviderState.FAILED, None),
        ({"status": "SUCCESS", "data": {"job_id": "SWAP-FACE-1", "cdnImage": "https://c/x.png"}},
         ProviderState.SUCCEEDED, "https://c/x.png"),
    ],
)  # fmt: skip
def test_parse_status_words(ttapi, payload, state, url):
    job = ttapi.parse_webhook(payload)
    assert job.job_id == "SWAP-FACE-1"
    assert job.state is state
    assert job.result_url == url


@pytest.mark.parametrize(
    "payload",
    [
        body("DONE"),
        body("success-ish"),
        {"jobId": "SWAP-FACE-1", "data": {}},
        body("SUCCESS"),  # no image
        body("SUCCESS", cdnImage="not a url"),
        {"status": "SUCCESS", "data": {"cdnImage": "https://c/x.png"}},  # no job id
        {"status": "ON_QUEUE", "jobId": "SWAP-FACE-1", "data": "x"},
        b"<html>",
        b"[]",
    ],
)
def test_parse_refuses_unknown_statuses_and_shapes(ttapi, payload):
    with pytest.raises(errors.ProviderBadResponse):
        ttapi.parse_webhook(payload)


def test_unknown_status_from_fetch_is_bad_response_after_retries(fake_ttapi, ttapi, sleeper):
    job_id = swap(ttapi).job_id
    fake_ttapi.inject("malformed_json", times=None, path=FETCH, body=b'{"status": "WEIRD", "data": {}}')
    with pytest.raises(errors.ProviderBadResponse, match="WEIRD"):
        ttapi.fetch(job_id)
    assert len(fake_ttapi.requests_to(FETCH)) == 3
    assert len(sleeper.waits) == 2


def test_fetch_of_an_unknown_job(fake_ttapi, ttapi, sleeper):
    with pytest.raises(errors.ProviderJobNotFound):
        ttapi.fetch("SWAP-FACE-000")
    (req,) = fake_ttapi.requests_to(FETCH)
    assert req.status == 404
    assert sleeper.waits == []


# --- webhooks ---------------------------------------------------------------------------------------


def test_hook_url_delivery_parses_like_fetch(fake_ttapi, ttapi, webhook_receiver):
    job_id = swap(ttapi, webhook_receiver.url).job_id
    delivery = webhook_receiver.wait_for(1)[0]
    hooked = ttapi.parse_webhook(delivery.body)
    assert hooked.job_id == job_id
    assert hooked.state is ProviderState.SUCCEEDED
    assert hooked.result_url == fake_ttapi.jobs[job_id].result_urls["cdnImage"]
    assert hooked.cost == 2
    assert ttapi.fetch(job_id) == hooked


def test_failed_job_webhook(fake_ttapi, ttapi, webhook_receiver):
    fake_ttapi.inject("job_failed", message="no face detected in targetImage")
    swap(ttapi, webhook_receiver.url)
    hooked = ttapi.parse_webhook(webhook_receiver.wait_for(1)[0].body)
    assert hooked.state is ProviderState.FAILED
    assert hooked.error_code == "no_face_detected"
    assert hooked.error_message == "no face detected in targetImage"


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "status"), [*HTTP_ERROR_ROWS, ("quota", errors.ProviderQuotaExhausted, 402)]
)
def test_http_error_rows(fake_ttapi, ttapi, fault, error, status):
    fake_ttapi.inject(fault)
    with pytest.raises(error) as caught:
        swap(ttapi)
    assert type(caught.value) is error
    assert caught.value.provider_status == status
    assert caught.value.retryable is error.retryable
    (req,) = fake_ttapi.requests_to(SWAP)
    assert req.status == status


def test_wrong_key_is_auth_failed(fake_ttapi, sleeper):
    provider = TtapiProvider("wrong-key", fake_ttapi.base_url, sleep=sleeper)
    with pytest.raises(errors.ProviderAuthFailed):
        swap(provider)


def test_quota_message_on_a_400_is_quota(fake_ttapi, ttapi):
    fake_ttapi.inject("invalid_input", message="Insufficient balance, please recharge")
    with pytest.raises(errors.ProviderQuotaExhausted):
        swap(ttapi)


def test_failed_status_under_http_200_on_submit(fake_ttapi, ttapi):
    fake_ttapi.inject(
        "malformed_json",
        path=SWAP,
        body=b'{"status": "FAILED", "message": "insufficient quota", "data": null}',
    )
    with pytest.raises(errors.ProviderQuotaExhausted):
        swap(ttapi)


@pytest.mark.parametrize(
    "answer",
    [
        b'{"status": "SUCCESS", "data": {"jobId": ',
        b'{"status": "SUCCESS", "message": "", "data": {}}',
        b'{"status": "SUCCESS", "message": "", "data": null}',
        b"Service Unavailable",
    ],
)
def test_malformed_swap_answers(fake_ttapi, ttapi, answer):
    fake_ttapi.inject("malformed_json", path=SWAP, body=answer)
    with pytest.raises(errors.ProviderBadResponse):
        swap(ttapi)
    assert len(fake_ttapi.requests_to(SWAP)) == 1


# --- what TTAPI cannot do ------------------------------------------------------------------------


def test_bytes_are_refused_with_a_clear_error(fake_ttapi, ttapi, jpeg_bytes):
    assert ttapi.accepts_bytes is False
    with pytest.raises(errors.InvalidRequest, match="URLs only") as caught:
        ttapi.swap(ImageInput.from_bytes(jpeg_bytes), ImageInput.from_url(FACE))
    assert caught.value.field == "source"
    with pytest.raises(errors.InvalidRequest) as caught:
        ttapi.swap(ImageInput.from_url(TARGET), ImageInput.from_bytes(jpeg_bytes))
    assert caught.value.field == "face"
    with pytest.raises(errors.InvalidRequest):
        ttapi.swap(ImageInput.from_url("file:///etc/passwd"), ImageInput.from_url(FACE))
    assert fake_ttapi.requests == []


def test_unsupported_operations(fake_ttapi, ttapi):
    assert ttapi.operations == {Operation.SWAP, Operation.FETCH}
    with pytest.raises(errors.OperationNotSupported):
        ttapi.multi_swap(ImageInput.from_url(TARGET), [ImageInput.from_url(FACE)], [0])
    with pytest.raises(errors.OperationNotSupported):
        ttapi.extract_faces(ImageInput.from_url(TARGET))
    with pytest.raises(errors.InvalidRequest):
        ttapi.fetch("")
    assert fake_ttapi.requests == []


def test_constructor_checks():
    with pytest.raises(ValueError):
        TtapiProvider("")
    with pytest.raises(ValueError):
        TtapiProvider("k", fetch_method="PUT")
