"""Provider callbacks: forged, duplicate, late, unknown, failure payloads and SSRF attempts."""

from __future__ import annotations

import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def _submit(deployment, fake, provider="aifaceswap"):
    return deployment.submit_swap(fake, provider)


def _hook(deployment):
    hook = deployment.callbacks.wait_for(deployment.delivered + 1)[deployment.delivered]
    deployment.delivered += 1
    return hook


def test_forged_callback_token_is_401_and_changes_nothing(deployment, fake_aifaceswap):
    job_id = _submit(deployment, fake_aifaceswap)
    hook = _hook(deployment)
    path = hook.path.split("?")[0]
    for query in ("", "?token=", "?token=" + "0" * 64):
        answer = deployment.callback(path + query, hook.body)
        assert answer.status == 401
    # a valid token for another job does not open this one
    other_id = _submit(deployment, fake_aifaceswap)
    other_token = _hook(deployment).path.split("token=")[1]
    assert deployment.callback(f"{path}?token={other_token}", hook.body).status == 401
    assert deployment.job(job_id)["status"] == "running"
    assert deployment.keys("results/") == []
    assert deployment.job(other_id)["status"] == "running"


def test_duplicate_and_late_webhooks_make_one_transition_and_one_object(deployment, fake_aifaceswap):
    fake_aifaceswap.inject("duplicate_webhook")
    job_id = _submit(deployment, fake_aifaceswap)
    first, second = deployment.deliver_callbacks(2)
    assert first.status == second.status == 200
    assert first.body["status"] == second.body["status"] == "succeeded"
    versions = deployment.s3.list_object_versions(Bucket="swapgate-test", Prefix="results/").get(
        "Versions", []
    )
    assert len(deployment.keys("results/")) == 1 and len(versions) == 1
    updated = deployment.job(job_id)["updated_at"]
    assert deployment.callback(*(lambda h: (h.path, h.body))(deployment.callbacks.received[0])).status == 200
    assert deployment.job(job_id)["updated_at"] == updated


def test_failure_payload_fails_the_job_with_the_reason(deployment, fake_ttapi):
    fake_ttapi.inject("job_failed", message="content violation")
    job_id = _submit(deployment, fake_ttapi, "ttapi")
    (answer,) = deployment.deliver_callbacks(1)
    assert answer.body["status"] == "failed"
    view = deployment.api("GET", f"/v1/swaps/{job_id}", resource="/v1/swaps/{id}").body
    assert view["status"] == "failed"
    assert view["error"]["message"] == "content violation"
    assert view["result_url"] is None


def test_callback_for_an_unknown_job_is_404(deployment, fake_aifaceswap):
    from swapgate.signing import callback_token

    body = json.dumps(
        {"success": 1, "type": 1, "task_id": "t", "result_image": f"{fake_aifaceswap.base_url}/x.png"}
    )
    answer = deployment.callback(
        f"/callbacks/aifaceswap/job_unknown?token={callback_token('job_unknown')}", body
    )
    assert answer.status == 404
    assert deployment.keys("results/") == []


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/result.png",  # not https
        "https://127.0.0.1/result.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3/x.png",
        "https://[::1]/x.png",
        "https://localhost/x.png",
    ],
)
def test_ssrf_result_urls_are_never_fetched(deployment, fake_aifaceswap, monkeypatch, url):
    job_id = _submit(deployment, fake_aifaceswap)
    hook = _hook(deployment)
    monkeypatch.delenv("SWAPGATE_ALLOW_PRIVATE_URLS")
    forged = json.loads(hook.body) | {"result_image": url}
    answer = deployment.callback(hook.path, json.dumps(forged))
    assert answer.status == 200
    job = deployment.job(job_id)
    assert job["status"] == "failed" and job["error_code"] == "result_copy_failed"
    assert deployment.keys("results/") == []


@pytest.fixture
def text_server():
    """A loopback server that answers every GET with an HTML page (not an image)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>not an image</html>"
            self.send_response(404 if self.path.startswith("/missing") else 200)
            self.send_header("Content-Type", "image/png")  # lying: the bytes decide
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/result.png", "/missing.png"])
def test_result_that_is_not_an_image_or_missing_fails_the_job(deployment, fake_aifaceswap, text_server, path):
    job_id = _submit(deployment, fake_aifaceswap)
    hook = _hook(deployment)
    not_image = json.loads(hook.body) | {"result_image": text_server + path}
    answer = deployment.callback(hook.path, json.dumps(not_image))
    assert answer.status == 200 and answer.body["status"] == "failed"
    job = deployment.job(job_id)
    assert job["error_code"] == "result_copy_failed"
    assert deployment.keys("results/") == []


def test_cancel_then_late_result_is_dropped(deployment, fake_aifaceswap):
    job_id = _submit(deployment, fake_aifaceswap)
    canceled = deployment.api("POST", f"/v1/swaps/{job_id}/cancel", resource="/v1/swaps/{id}/cancel")
    assert canceled.status == 200 and canceled.body["status"] == "canceled"
    (late,) = deployment.deliver_callbacks(1)
    assert late.status == 200 and late.body["status"] == "canceled"
    assert deployment.keys("results/") == []
    again = deployment.api("POST", f"/v1/swaps/{job_id}/cancel", resource="/v1/swaps/{id}/cancel")
    assert again.body["status"] == "canceled"


def test_webhook_naming_another_provider_job_is_refused(deployment, fake_aifaceswap):
    job_id = _submit(deployment, fake_aifaceswap)
    hook = _hook(deployment)
    other = json.loads(hook.body) | {"task_id": "someone-elses-task"}
    answer = deployment.callback(hook.path, json.dumps(other))
    assert answer.status == 400
    assert deployment.job(job_id)["status"] == "running"


def test_callback_logs_carry_the_job_id_and_never_the_token(deployment, fake_aifaceswap):
    job_id = _submit(deployment, fake_aifaceswap)
    hook = _hook(deployment)
    service_logger = logging.getLogger("swapgate")  # the functions' Powertools logger
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(service_logger.handlers[0].formatter)
    service_logger.addHandler(capture)
    try:
        deployment.callback(hook.path, hook.body)
    finally:
        service_logger.removeHandler(capture)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert any(line.get("job_id") == job_id and line["message"] == "job finished" for line in lines)
    token = hook.path.split("token=")[1]
    logs = stream.getvalue()
    assert token not in logs and "test-key" not in logs and "test-signing-secret" not in logs


def test_callback_checks_answer_typed_errors_in_the_callback_shape(deployment, fake_aifaceswap):
    from swapgate.errors import InvalidRequest, NotFound, Unauthorized
    from swapgate.gateway import Gateway
    from swapgate.signing import callback_token

    job_id = _submit(deployment, fake_aifaceswap)
    hook = _hook(deployment)
    token = hook.path.split("token=")[1]

    wrong_provider = deployment.callback(f"/callbacks/ttapi/{job_id}?token={token}", hook.body)
    assert wrong_provider.status == 400
    assert wrong_provider.body == {
        "error": {"code": "invalid_request", "message": f"job {job_id} does not run on ttapi"}
    }
    forged = deployment.callback(f"/callbacks/aifaceswap/{job_id}?token=0", hook.body)
    assert forged.body == {"error": {"code": "unauthorized", "message": "missing or wrong callback token"}}
    unknown = deployment.callback(f"/callbacks/aifaceswap/job_x?token={callback_token('job_x')}", hook.body)
    assert unknown.body == {"error": {"code": "not_found", "message": "no job 'job_x'"}}
    assert deployment.job(job_id)["status"] == "running"

    gateway = Gateway.from_env()  # the use case itself raises the typed errors
    with pytest.raises(Unauthorized):
        gateway.accept_callback("aifaceswap", job_id, None, hook.body)
    with pytest.raises(NotFound):
        gateway.accept_callback("aifaceswap", "job_x", callback_token("job_x"), hook.body)
    with pytest.raises(InvalidRequest):
        gateway.accept_callback("ttapi", job_id, token, hook.body)
    assert gateway.accept_callback("aifaceswap", job_id, token, hook.body).status == "succeeded"
