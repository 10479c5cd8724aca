"""Inputs that once made a handler raise (a 502 from API Gateway): each is now a 4xx naming the problem.
The fuzz suite (tests/fuzz) looks for more; these pin the ones found."""

from __future__ import annotations

import base64
import json

import pytest
from support import api_event, lambda_context, proxy_answer
from swapgate.signing import callback_token


def _submit(deployment, fake, **extra):
    body = {"source_image": f"{fake.base_url}/a.png", "face_image": f"{fake.base_url}/b.png", **extra}
    answer = deployment.api("POST", "/v1/swaps", json_body=body)
    assert answer.status == 202, answer.body
    return answer.body["id"]


def _error(answer, status, field):
    assert answer.status == status, answer.body
    error = answer.body["error"]
    assert error["field"] == field
    assert field in error["message"] or field == "body"
    return error


# --- URL and text fields -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://[",
        "https://[::1",
        "https://example.com:abc/a.png",
        "https://example.com:99999/a.png",
        "https://ex\uff03ample.com/a.png",  # NFKC makes the host 'ex#ample.com'
    ],
)
@pytest.mark.parametrize("field", ["source_image", "face_image", "webhook"])
def test_urls_that_do_not_parse_are_400_naming_the_field(deployment, monkeypatch, url, field):
    monkeypatch.delenv("SWAPGATE_ALLOW_PRIVATE_URLS")  # the production URL policy
    body = {"source_image": "https://e.example/a.png", "face_image": "https://e.example/b.png", field: url}
    error = _error(deployment.api("POST", "/v1/swaps", json_body=body), 400, field)
    assert "well-formed URL" in error["message"]


@pytest.mark.parametrize("field", ["targetImage", "swapImage", "hookUrl"])
def test_ttapi_urls_that_do_not_parse_are_400(deployment, field):
    body = {
        "targetImage": "https://e.example/a.png",
        "swapImage": "https://e.example/b.png",
        field: "https://[",
    }
    answer = deployment.api("POST", "/insightFace/v1/swap", json_body=body)
    assert answer.status == 400
    assert answer.body["status"] == "FAILED" and field in answer.body["message"]


def test_a_lone_surrogate_is_not_stored(deployment, fake_aifaceswap):
    body = {"source_image": f"{fake_aifaceswap.base_url}/a.png", "face_image": "x", "webhook": "\ud800"}
    error = _error(deployment.api("POST", "/v1/swaps", json_body=body), 400, "webhook")
    assert "unicode" in error["message"]
    assert fake_aifaceswap.requests == []


def test_urls_have_a_length_limit(deployment, fake_aifaceswap):
    webhook = "https://hooks.example/" + "x" * 450_000  # once failed the DynamoDB put
    body = {"source_image": "https://e.example/a.png", "face_image": "https://e.example/b.png"}
    error = _error(
        deployment.api("POST", "/v1/swaps", json_body={**body, "webhook": webhook}), 400, "webhook"
    )
    assert "2048" in error["message"]
    source = "https://e.example/" + "a" * 2100
    _error(
        deployment.api("POST", "/v1/swaps", json_body={**body, "source_image": source}), 400, "source_image"
    )
    assert fake_aifaceswap.requests == []


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_an_empty_ttapi_job_id_is_400(deployment, method):
    if method == "POST":
        answer = deployment.api("POST", "/insightFace/v1/fetch", json_body={"jobId": ""})
    else:
        answer = deployment.api("GET", "/insightFace/v1/fetch?jobId=")
    assert answer.status == 400, answer.body
    assert answer.body["status"] == "FAILED" and "jobId" in answer.body["message"]


@pytest.mark.parametrize("job_id", ["nope", "job_" + "0" * 32, "JOB_" + "A" * 32, "\u00e9" * 10])
def test_ids_that_name_no_job_are_404(deployment, job_id):
    answer = deployment.api("POST", "/insightFace/v1/fetch", json_body={"jobId": job_id})
    assert answer.status == 404, answer.body
    assert answer.body["status"] == "FAILED"


# --- bodies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=", 'multipart/form-data; boundary=""', "multipart/form-data;"],
)
def test_multipart_without_a_usable_boundary_is_400(deployment, content_type):
    answer = deployment.api("POST", "/v1/swaps", data=b"--x\r\n\r\n", headers={"Content-Type": content_type})
    error = _error(answer, 400, "body")
    assert "boundary" in error["message"]


def test_multipart_text_that_is_not_utf8_is_400(deployment):
    body = (
        b'--b\r\nContent-Disposition: form-data; name="source_image"\r\n\r\n\xff\xfe\r\n'
        b'--b\r\nContent-Disposition: form-data; name="face_image"\r\n\r\nhttps://e.example/b.png\r\n--b--\r\n'
    )
    answer = deployment.api(
        "POST", "/v1/swaps", data=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert "UTF-8" in _error(answer, 400, "body")["message"]


@pytest.mark.parametrize("body", [b'{"indexes": [' + b"9" * 5000 + b"]}", b"[" * 100_000])
def test_json_python_cannot_read_is_400(deployment, body):
    answer = deployment.api(
        "POST", "/v1/swaps/multi", data=body, headers={"Content-Type": "application/json"}
    )
    _error(answer, 400, "body")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not base64!", "base64"),
        ("YQ", "base64"),
        ("\u00e9", "base64"),
        (base64.b64encode(b'\xff{"source_image": "x"}').decode(), "UTF-8"),
    ],
)
def test_a_body_marked_base64_that_is_not_is_400(deployment, body, problem):
    event = api_event(
        "POST", "/v1/swaps", resource="/v1/swaps", headers={"x-api-key": "client-key-1"}, json_body={}
    )
    event.update(body=body, isBase64Encoded=True)
    answer = proxy_answer(deployment.api_module.handler(event, lambda_context()))
    assert problem in _error(answer, 400, "body")["message"]


def test_an_api_key_that_is_not_ascii_is_401(deployment):
    event = api_event("POST", "/v1/uploads", resource="/v1/uploads", headers={"x-api-key": "\u00e9\ud800"})
    answer = proxy_answer(deployment.api_module.handler(event, lambda_context()))
    assert answer.status == 401


# --- provider callbacks --------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["%C3%A9" * 64, "%C4%80", "%ED%A0%80"])
def test_a_callback_token_that_is_not_ascii_is_401(deployment, fake_aifaceswap, token):
    job_id = _submit(deployment, fake_aifaceswap)
    answer = deployment.callback(f"/callbacks/aifaceswap/{job_id}?token={token}", b"{}")
    assert answer.status == 401


@pytest.mark.parametrize("body", [b"{}", b"not json", b'{"task_id": "t", "success": "maybe"}', b"[1]"])
def test_a_malformed_webhook_with_a_valid_token_is_400_not_retried(deployment, fake_aifaceswap, body):
    job_id = _submit(deployment, fake_aifaceswap)
    answer = deployment.callback(f"/callbacks/aifaceswap/{job_id}?token={callback_token(job_id)}", body)
    assert answer.status == 400, answer.body
    assert answer.body["error"]["code"] == "invalid_request"
    assert "webhook body" in answer.body["error"]["message"]
    assert deployment.job(job_id)["status"] == "running"


def test_a_base64_webhook_is_read_and_a_broken_one_refused(deployment, fake_aifaceswap):
    job_id = _submit(deployment, fake_aifaceswap)
    (hook,) = deployment.callbacks.wait_for(1)
    deployment.delivered = 1
    path = hook.path
    for body, status in ((b"@@not base64@@", 400), (base64.b64encode(hook.body), 200)):
        event = api_event(
            "POST", path, resource="/callbacks/{provider}/{job_id}", headers={"Content-Type": "image/png"}
        )
        event.update(body=body.decode(), isBase64Encoded=True)
        answer = proxy_answer(deployment.callback_module.handler(event, lambda_context()))
        assert answer.status == status, answer.body
    assert json.loads(hook.body)["task_id"]
    assert deployment.job(job_id)["status"] == "succeeded"
