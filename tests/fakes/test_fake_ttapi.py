"""The TTAPI fake over real sockets: the API page's examples, fetch progression, checks, CDN."""

from __future__ import annotations

import re
import time

import pytest
import requests
from swapgate_dev.fakes import FakeTtapi

KEY = "test-key"  # what the fixtures' fakes accept
TIMEOUT = 5  # every request here has a timeout
AUTH = {"TT-API-KEY": KEY}
# the URLs of the API page's example
TARGET = "https://cdnb.ttapi.io/2024-04-23/tar_image.jpg"
SWAP_IMG = "https://cdnb.ttapi.io/2024-04-23/face_image.jpg"
SWAP = "/insightFace/v1/swap"
FETCH = "/insightFace/v1/fetch"


def swap(fake, body, headers=AUTH, **kwargs):
    return requests.post(fake.url(SWAP), headers=headers, json=body, timeout=TIMEOUT, **kwargs)


def fetch(fake, job_id, method="POST"):
    if method == "GET":
        return requests.get(fake.url(FETCH), headers=AUTH, params={"jobId": job_id}, timeout=TIMEOUT)
    return requests.post(fake.url(FETCH), headers=AUTH, json={"jobId": job_id}, timeout=TIMEOUT)


def job_id_of(resp, key="jobId"):
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body == {"status": "SUCCESS", "message": "", "data": {key: body["data"][key]}}
    assert re.fullmatch(r"SWAP-FACE-\d{18}", body["data"][key])
    return body["data"][key]


def test_swap_example_then_fetch_and_callback(fake_ttapi, webhook_receiver, png_size):
    resp = swap(fake_ttapi, {"targetImage": TARGET, "swapImage": SWAP_IMG, "hookUrl": webhook_receiver.url})
    job_id = job_id_of(resp)
    sent = fake_ttapi.requests[-1]
    assert sent.headers["TT-API-KEY"] == KEY and sent.json["targetImage"] == TARGET

    (hook,) = webhook_receiver.wait_for(1)
    body = hook.json
    assert list(body) == ["status", "jobId", "data"]  # the page's "Async callback & fetch json"
    assert body["status"] == "SUCCESS" and body["jobId"] == job_id
    assert list(body["data"]) == [
        "jobId",
        "targetImage",
        "swapImage",
        "discordImage",
        "cdnImage",
        "hookUrl",
        "quota",
    ]
    data = body["data"]
    assert (data["jobId"], data["targetImage"], data["swapImage"]) == (job_id, TARGET, SWAP_IMG)
    assert data["hookUrl"] == webhook_receiver.url and data["quota"] == 2
    assert fake_ttapi.wait_for_webhooks(1)[0] == (webhook_receiver.url, body, 200)

    # fetch (POST body and GET query) answers the same body as the callback
    assert fetch(fake_ttapi, job_id).json() == body
    assert fetch(fake_ttapi, job_id, "GET").json() == body

    for name in ("cdnImage", "discordImage"):
        url = data[name]
        assert url.startswith(fake_ttapi.base_url)
        assert re.search(r"\?ex=[0-9a-f]{8}&is=[0-9a-f]{8}&hm=[0-9a-f]{64}&$", url)
        image = requests.get(url, timeout=TIMEOUT)
        assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
        assert png_size(image.content) == (64, 64)
        assert image.content == fake_ttapi.result_image(job_id)
    assert data["cdnImage"] != data["discordImage"]


def test_newer_job_id_naming():
    with FakeTtapi(job_id_key="job_id", delay=0.05) as fake:
        job_id = job_id_of(swap(fake, {"targetImage": TARGET, "swapImage": SWAP_IMG}), key="job_id")
        assert fetch(fake, job_id).json()["jobId"] == job_id
    with pytest.raises(ValueError):
        FakeTtapi(job_id_key="id")


def test_status_progresses_through_fetch():
    with FakeTtapi(delay=1.2) as fake:
        job_id = job_id_of(swap(fake, {"targetImage": TARGET, "swapImage": SWAP_IMG}))
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            body = fetch(fake, job_id).json()
            if not seen or seen[-1] != body["status"]:
                seen.append(body["status"])
            if body["status"] == "SUCCESS":
                break
            assert body["data"]["cdnImage"] is None and body["data"]["discordImage"] is None
            time.sleep(0.05)
        assert seen == ["PENDING_QUEUE", "ON_QUEUE", "SUCCESS"]
        assert body["data"]["cdnImage"] and body["data"]["discordImage"]


def test_result_is_not_served_before_the_job_ends():
    with FakeTtapi(delay=5) as fake:
        job_id = job_id_of(swap(fake, {"targetImage": TARGET, "swapImage": SWAP_IMG}))
        url = fake.jobs[job_id].result_urls["cdnImage"]
        assert requests.get(url, timeout=TIMEOUT).status_code == 404


def test_job_failed_reaches_fetch_and_callback(fake_ttapi, webhook_receiver):
    fake_ttapi.inject("job_failed", message="insufficient quota")
    job_id = job_id_of(
        swap(fake_ttapi, {"targetImage": TARGET, "swapImage": SWAP_IMG, "hookUrl": webhook_receiver.url})
    )
    (hook,) = webhook_receiver.wait_for(1)
    assert hook.json["status"] == "FAILED" and hook.json["message"] == "insufficient quota"
    assert hook.json["data"]["cdnImage"] is None and hook.json["data"]["quota"] == 0
    assert fetch(fake_ttapi, job_id).json() == hook.json
    # the next job is not affected
    other = job_id_of(
        swap(fake_ttapi, {"targetImage": TARGET, "swapImage": SWAP_IMG, "hookUrl": webhook_receiver.url})
    )
    assert webhook_receiver.wait_for(2)[1].json["status"] == "SUCCESS"
    assert fake_ttapi.jobs[other].state == "succeeded"


def test_no_webhook_leaves_fetch_working(fake_ttapi, webhook_receiver):
    fake_ttapi.inject("no_webhook")
    job_id = job_id_of(
        swap(fake_ttapi, {"targetImage": TARGET, "swapImage": SWAP_IMG, "hookUrl": webhook_receiver.url})
    )
    with pytest.raises(TimeoutError):
        fake_ttapi.wait_for_webhooks(1, timeout=0.5)
    assert webhook_receiver.received == []
    assert fetch(fake_ttapi, job_id).json()["status"] == "SUCCESS"


# --- request checks ------------------------------------------------------------------------------

GOOD = {"targetImage": TARGET, "swapImage": SWAP_IMG}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", SWAP, {"headers": {}, "json": GOOD}, 401),
        ("POST", SWAP, {"headers": {"TT-API-KEY": "nope"}, "json": GOOD}, 401),
        ("POST", SWAP, {"headers": {"Authorization": f"Bearer {KEY}"}, "json": GOOD}, 401),
        ("POST", SWAP, {"json": {"target_image": TARGET, "swapImage": SWAP_IMG}}, 400),
        ("POST", SWAP, {"json": {"targetImage": TARGET, "swap_image": SWAP_IMG}}, 400),
        ("POST", SWAP, {"json": {"source_image": TARGET, "face_image": SWAP_IMG}}, 400),
        ("POST", SWAP, {"json": {"targetImage": TARGET}}, 400),
        ("POST", SWAP, {"json": {**GOOD, "webhook": "https://h.example/cb"}}, 400),
        ("POST", SWAP, {"json": {**GOOD, "hookUrl": "not a url"}}, 400),
        ("POST", SWAP, {"json": {"targetImage": "tar_image.jpg", "swapImage": SWAP_IMG}}, 400),
        ("POST", SWAP, {"json": {"targetImage": TARGET, "swapImage": 7}}, 400),
        ("POST", SWAP, {"data": GOOD}, 400),  # urlencoded
        ("POST", SWAP, {"files": {"targetImage": b"\xff\xd8\xff", "swapImage": b"\xff\xd8\xff"}}, 400),
        ("POST", SWAP, {"data": b"{oops", "headers": {**AUTH, "Content-Type": "application/json"}}, 400),
        ("POST", SWAP, {"json": [TARGET, SWAP_IMG]}, 400),
        ("GET", SWAP, {}, 405),
        ("POST", FETCH, {"json": {"job_id": "SWAP-FACE-1"}}, 400),
        ("POST", FETCH, {"json": {}}, 400),
        ("POST", FETCH, {"params": {"jobId": "SWAP-FACE-1"}}, 400),  # POST takes a JSON body
        ("POST", FETCH, {"data": {"jobId": "SWAP-FACE-1"}}, 400),
        ("GET", FETCH, {}, 400),
        ("GET", FETCH, {"params": {"job_id": "SWAP-FACE-1"}}, 400),
        ("GET", FETCH, {"params": {"jobId": "SWAP-FACE-1"}, "headers": {}}, 401),
        ("POST", FETCH, {"json": {"jobId": "SWAP-FACE-171349414479347616"}}, 404),
        ("GET", FETCH, {"params": {"jobId": "SWAP-FACE-171349414479347616"}}, 404),
        ("POST", "/insightFace/v1/status", {"json": {"jobId": "x"}}, 404),
    ],
)
def test_malformed_requests_answer_4xx(fake_ttapi, method, path, kwargs, status):
    kwargs.setdefault("headers", AUTH)
    resp = requests.request(method, fake_ttapi.url(path), timeout=TIMEOUT, **kwargs)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["status"] == "FAILED" and body["data"] is None and body["message"]
    assert fake_ttapi.jobs == {}


def test_api_key_is_not_in_reprs(fake_ttapi):
    fake_ttapi.api_key = "tt-very-secret"
    swap(fake_ttapi, GOOD, headers={"TT-API-KEY": "tt-very-secret"})
    assert "tt-very-secret" not in repr(fake_ttapi.requests) + repr(fake_ttapi.jobs)
