"""Who may read and cancel a job an inbox/ manifest started: the key ``SWAPGATE_INBOX_OWNER`` names (by
its digest), and no other; without that setting, no key at all (its outbox record reports it)."""

from __future__ import annotations

import pytest
from support import API_KEY, api_event, lambda_context, proxy_answer
from swapgate.access import key_digest

OTHER_KEY = "client-key-2"


def _start_one(stack) -> str:
    source = stack.put_face("inbox/photos/source.png", "astronaut.png")
    face = stack.put_face("inbox/photos/face.jpg", "grace_hopper.jpg")
    stack.put("inbox/owned.json", {"source_image": source, "face_image": face})
    assert stack.run_trigger() == {"batchItemFailures": []}
    (job,) = stack.jobs()
    assert job["status"] == "running"
    return job["id"]


def _as(stack, key: str, method: str, path: str, resource: str, json_body=None):
    stack.api("GET", "/v1/openapi.json")  # loads the API function
    event = api_event(method, path, resource=resource, headers={"x-api-key": key}, json_body=json_body)
    answer = proxy_answer(stack.api_module.handler(event, lambda_context()))
    return answer.status, answer.body


def _reads(stack, key: str, job_id: str) -> list[int]:
    return [
        _as(stack, key, "GET", f"/v1/swaps/{job_id}", "/v1/swaps/{id}")[0],
        _as(stack, key, "POST", "/insightFace/v1/fetch", "/insightFace/v1/fetch", {"jobId": job_id})[0],
        _as(stack, key, "GET", f"/insightFace/v1/fetch?jobId={job_id}", "/insightFace/v1/fetch")[0],
    ]


@pytest.fixture
def keys(stack, monkeypatch):
    monkeypatch.setenv("SWAPGATE_API_KEYS", f"{API_KEY},{OTHER_KEY}")


def test_without_an_inbox_owner_no_key_reads_or_cancels_inbox_jobs(stack, keys, monkeypatch):
    monkeypatch.delenv("SWAPGATE_INBOX_OWNER", raising=False)
    job_id = _start_one(stack)
    assert "owner" not in stack.job(job_id)
    for key in (API_KEY, OTHER_KEY):
        assert _reads(stack, key, job_id) == [404, 404, 404]
        status, body = _as(stack, key, "POST", f"/v1/swaps/{job_id}/cancel", "/v1/swaps/{id}/cancel")
        assert status == 404 and body["error"]["code"] == "not_found"
    assert stack.job(job_id)["status"] == "running"


def test_the_inbox_owner_key_reads_and_cancels_them_and_no_other(stack, keys, monkeypatch):
    monkeypatch.setenv("SWAPGATE_INBOX_OWNER", key_digest(API_KEY))
    job_id = _start_one(stack)
    assert stack.job(job_id)["owner"] == key_digest(API_KEY)  # the digest, never the key
    assert _reads(stack, OTHER_KEY, job_id) == [404, 404, 404]
    status, _ = _as(stack, OTHER_KEY, "POST", f"/v1/swaps/{job_id}/cancel", "/v1/swaps/{id}/cancel")
    assert status == 404 and stack.job(job_id)["status"] == "running"

    assert _reads(stack, API_KEY, job_id) == [200, 200, 200]
    status, body = _as(stack, API_KEY, "POST", f"/v1/swaps/{job_id}/cancel", "/v1/swaps/{id}/cancel")
    assert status == 200 and body["status"] == "canceled"


def test_the_inbox_owner_purges_inbox_jobs_and_no_other_key_can(stack, keys, monkeypatch):
    monkeypatch.setenv("SWAPGATE_INBOX_OWNER", key_digest(API_KEY))
    job_id = _start_one(stack)
    status, _ = _as(stack, OTHER_KEY, "DELETE", f"/v1/swaps/{job_id}", "/v1/swaps/{id}")
    assert status == 404 and "data_removed" not in stack.job(job_id)

    status, body = _as(stack, API_KEY, "DELETE", f"/v1/swaps/{job_id}", "/v1/swaps/{id}")
    assert status == 200 and body["status"] == "canceled" and body["data_removed"] is True
    item = stack.job(job_id)
    assert item["data_removed"] is True and "manifest_key" not in item
    assert stack.keys("results/") == [] and stack.keys("staging/") == []
