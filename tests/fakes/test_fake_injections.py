"""Failure injection on both fakes: every request fault, every job fault, counts and paths."""

from __future__ import annotations

import json
import time

import pytest
import requests

KEY = "test-key"
TIMEOUT = 5
AIF_SWAP = "/api/aifaceswap/v1/faceswap"
AIF_EXTRACT = "/api/aifaceswap/v1/extract_face"
TT_SWAP = "/insightFace/v1/swap"
TT_FETCH = "/insightFace/v1/fetch"
URL_A = "https://cdnb.ttapi.io/2024-04-23/tar_image.jpg"
URL_B = "https://cdnb.ttapi.io/2024-04-23/face_image.jpg"


def submit(fake, hook=None, timeout=TIMEOUT):
    """A valid submit for either fake."""
    if fake.name == "aifaceswap":
        body = {"source_image": URL_A, "face_image": URL_B} | ({"webhook": hook} if hook else {})
        headers = {"Authorization": f"Bearer {KEY}"}
        return requests.post(fake.url(AIF_SWAP), headers=headers, json=body, timeout=timeout)
    body = {"targetImage": URL_A, "swapImage": URL_B} | ({"hookUrl": hook} if hook else {})
    return requests.post(fake.url(TT_SWAP), headers={"TT-API-KEY": KEY}, json=body, timeout=timeout)


def job_id(fake, resp):
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    return data["task_id"] if fake.name == "aifaceswap" else data["jobId"]


def error_status(fake, resp):
    """The provider-level status of an error answer: envelope code (aifaceswap) or HTTP status."""
    body = resp.json()
    if fake.name == "aifaceswap":
        assert set(body) == {"code", "data", "message"} and body["data"] is None
        return body["code"]
    assert body["status"] == "FAILED" and body["data"] is None
    return resp.status_code


@pytest.fixture(params=["aifaceswap", "ttapi"])
def fake(request):
    return request.getfixturevalue(f"fake_{request.param}")


@pytest.mark.parametrize(
    ("kind", "http_status"),
    [
        ("bad_key", 401),
        ("blocked", 403),
        ("rate_limited", 429),
        ("queue_full", 499),
        ("server_error", 500),
        ("gateway_timeout", 504),
        ("invalid_input", 400),
        ("not_found", 404),
    ],
)
def test_http_faults_answer_once_then_recover(fake, kind, http_status):
    injection = fake.inject(kind)
    resp = submit(fake)
    assert resp.status_code == http_status
    assert error_status(fake, resp) == http_status
    assert resp.json()["message"]
    assert fake.jobs == {}  # a refused submit creates no job
    assert injection.used == 1 and not injection.active
    job_id(fake, submit(fake))  # the next one goes through
    assert len(fake.jobs) == 1


def test_rate_limited_carries_retry_after(fake):
    fake.inject("rate_limited", retry_after=2)
    resp = submit(fake)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"


def test_quota_aifaceswap_is_an_envelope_under_http_200(fake_aifaceswap):
    fake_aifaceswap.inject("quota")
    resp = submit(fake_aifaceswap)
    assert resp.status_code == 200
    body = resp.json()
    assert body["code"] != 200 and body["data"] is None and "Insufficient points" in body["message"]
    fake_aifaceswap.inject("quota", code=402, message="points not enough")
    assert submit(fake_aifaceswap).json() == {"code": 402, "data": None, "message": "points not enough"}


def test_quota_ttapi_is_402(fake_ttapi):
    fake_ttapi.inject("quota")
    resp = submit(fake_ttapi)
    assert resp.status_code == 402 and resp.json()["status"] == "FAILED"
    assert "balance" in resp.json()["message"].lower()


def test_envelope_error(fake):
    fake.inject("envelope_error", message="internal error")
    resp = submit(fake)
    assert resp.status_code == 200
    body = resp.json()
    if fake.name == "aifaceswap":
        assert body == {"code": 500, "data": None, "message": "internal error"}
    else:
        assert body == {"status": "FAILED", "message": "internal error", "data": None}
    assert fake.jobs == {}


def test_malformed_json(fake):
    fake.inject("malformed_json")
    resp = submit(fake)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.content)
    fake.inject("malformed_json", body=b"<html>Bad Gateway</html>")
    assert submit(fake).content == b"<html>Bad Gateway</html>"


def test_slow_answer_times_the_client_out_but_the_job_exists(fake):
    fake.inject("slow", seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        submit(fake, timeout=(2, 0.3))
    deadline = time.monotonic() + 5
    while not fake.jobs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fake.jobs) == 1  # the request reached the provider: a blind retry would pay twice
    job_id(fake, submit(fake, timeout=(2, 0.5)))  # the next answer is quick again


def test_slow_combines_with_a_fault(fake):
    fake.inject("slow", seconds=0.3)
    fake.inject("server_error")
    started = time.monotonic()
    resp = submit(fake)
    assert resp.status_code == 500 and time.monotonic() - started >= 0.3


def test_times_and_persistent_injections(fake):
    fake.inject("server_error", times=2)
    assert [submit(fake).status_code for _ in range(3)] == [500, 500, 200]
    forever = fake.inject("gateway_timeout", times=None)
    assert [submit(fake).status_code for _ in range(4)] == [504] * 4
    assert forever.used == 4 and forever.active
    fake.reset()
    assert fake.injections == [] and fake.requests == [] and fake.jobs == {}
    assert submit(fake).status_code == 200


def test_injections_in_order_one_per_request(fake):
    fake.inject("rate_limited")
    fake.inject("server_error")
    assert [submit(fake).status_code for _ in range(3)] == [429, 500, 200]


def test_injection_limited_to_a_path(fake_ttapi):
    fake_ttapi.inject("server_error", path=TT_FETCH)
    jid = job_id(fake_ttapi, submit(fake_ttapi))  # swap is not affected
    headers = {"TT-API-KEY": KEY}
    first = requests.post(fake_ttapi.url(TT_FETCH), headers=headers, json={"jobId": jid}, timeout=TIMEOUT)
    second = requests.get(fake_ttapi.url(TT_FETCH), headers=headers, params={"jobId": jid}, timeout=TIMEOUT)
    assert (first.status_code, second.status_code) == (500, 200)


def test_aifaceswap_injection_on_extract_face_only(fake_aifaceswap):
    fake_aifaceswap.inject("invalid_input", path=AIF_EXTRACT, message="no face detected")
    assert submit(fake_aifaceswap).status_code == 200
    resp = requests.post(
        fake_aifaceswap.url(AIF_EXTRACT),
        headers={"Authorization": f"Bearer {KEY}"},
        json={"img": URL_A},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 400 and resp.json()["message"] == "no face detected"


def test_unknown_injection_is_refused(fake):
    with pytest.raises(ValueError):
        fake.inject("explode")


# --- job faults ------------------------------------------------------------------------------------


def test_job_failed_aifaceswap_webhook(fake_aifaceswap, webhook_receiver):
    fake_aifaceswap.inject("job_failed", message="content violation")
    task = job_id(fake_aifaceswap, submit(fake_aifaceswap, webhook_receiver.url))
    (hook,) = webhook_receiver.wait_for(1)
    assert hook.json == {"success": 0, "type": 1, "task_id": task, "result_image": ""}
    job = fake_aifaceswap.jobs[task]
    assert job.state == "failed" and job.message == "content violation"
    assert requests.get(job.result_urls["result_image"], timeout=TIMEOUT).status_code == 404


def test_duplicate_webhook(fake, webhook_receiver):
    fake.inject("duplicate_webhook")
    jid = job_id(fake, submit(fake, webhook_receiver.url))
    first, second = webhook_receiver.wait_for(2)
    assert first.json == second.json and jid in first.body.decode()
    assert [d.status for d in fake.wait_for_webhooks(2)] == [200, 200]


def test_late_webhook(fake, webhook_receiver):
    fake.inject("late_webhook", extra_delay=0.4)
    started = time.monotonic()
    jid = job_id(fake, submit(fake, webhook_receiver.url))
    webhook_receiver.wait_for(1)
    assert time.monotonic() - started >= fake.delay + 0.4  # a lower bound: never flaky
    assert fake.jobs[jid].state == "succeeded"


def test_no_webhook(fake, webhook_receiver):
    fake.inject("no_webhook")
    jid = job_id(fake, submit(fake, webhook_receiver.url))
    with pytest.raises(TimeoutError):
        fake.wait_for_webhooks(1, timeout=0.5)
    assert webhook_receiver.received == [] and fake.jobs[jid].state == "succeeded"


def test_job_fault_takes_its_own_delay_and_combines(fake, webhook_receiver):
    fake.inject("job_failed", delay=0.3)
    fake.inject("duplicate_webhook", copies=3)
    jid = job_id(fake, submit(fake, webhook_receiver.url))
    job = fake.jobs[jid]
    assert job.delay == 0.3 and job.outcome == "failed" and job.webhook_copies == 3
    hooks = webhook_receiver.wait_for(3)
    assert len({h.body for h in hooks}) == 1
    second = job_id(fake, submit(fake))  # the next job is normal again
    assert fake.jobs[second].outcome == "succeeded" and fake.jobs[second].webhook_copies == 1
