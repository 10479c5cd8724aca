"""The shared machinery: lifecycle, CDN, webhook outcomes, recording, PNGs, multipart, the CLI."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi, WebhookReceiver, make_png, sniff_image

KEY = "test-key"
TIMEOUT = 5
AUTH = {"Authorization": f"Bearer {KEY}"}
SWAP = "/api/aifaceswap/v1/faceswap"
URL_A = "https://example.com/a.jpg"
URL_B = "https://example.com/b.jpg"


def submit(fake, hook=None):
    body = {"source_image": URL_A, "face_image": URL_B} | ({"webhook": hook} if hook else {})
    resp = requests.post(fake.url(SWAP), headers=AUTH, json=body, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["task_id"]


def wait_finished(fake, *job_ids, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not all(fake.jobs[j].finished for j in job_ids):
        assert time.monotonic() < deadline, "jobs did not finish"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_start_stop_and_context_manager():
    fake = FakeAifaceswap(port=0)
    assert fake.start() is fake and fake.start() is fake  # idempotent
    assert fake.base_url.startswith("http://127.0.0.1:") and fake.port > 0
    url = fake.url(SWAP)
    assert requests.post(url, json={}, timeout=TIMEOUT).status_code == 401
    fake.stop()
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json={}, timeout=TIMEOUT)
    with FakeTtapi() as a, FakeTtapi() as b:
        assert a.port != b.port


def test_fixed_port():
    port = free_port()
    with FakeTtapi(port=port) as fake:
        assert fake.base_url == f"http://127.0.0.1:{port}"


def test_requests_are_recorded(fake_aifaceswap, png_bytes):
    requests.post(
        fake_aifaceswap.url(SWAP) + "?x=1&x=2",
        headers=AUTH,
        files={"source_image": ("s.png", png_bytes, "image/png"), "face_image": ("f.png", png_bytes)},
        data={"webhook": "http://127.0.0.1:9/h"},
        timeout=TIMEOUT,
    )
    (rec,) = fake_aifaceswap.requests
    assert (rec.method, rec.path, rec.query, rec.status) == ("POST", SWAP, {"x": ["1", "2"]}, 200)
    assert rec.headers["authorization"] == f"Bearer {KEY}"  # case-insensitive
    assert rec.content_type.startswith("multipart/form-data; boundary=") and rec.json is None
    assert rec.form == {"webhook": ["http://127.0.0.1:9/h"]}
    assert rec.files[0] == ("source_image", "s.png", "image/png", png_bytes)
    assert rec.files[1][:3] == ("face_image", "f.png", None)
    assert "s.png" in repr(rec) and str(len(png_bytes)) in repr(rec)
    assert fake_aifaceswap.requests_to(SWAP) == [rec] and fake_aifaceswap.requests_to("/other") == []


def test_chunked_request_body(fake_aifaceswap):
    payload = json.dumps({"source_image": URL_A, "face_image": URL_B}).encode()
    chunks = iter([payload[:10], payload[10:]])
    headers = {**AUTH, "Content-Type": "application/json"}
    resp = requests.post(fake_aifaceswap.url(SWAP), headers=headers, data=chunks, timeout=TIMEOUT)
    assert resp.status_code == 200 and fake_aifaceswap.requests[-1].headers["Transfer-Encoding"] == "chunked"


def test_cdn_serves_png_and_404s(fake_aifaceswap, png_size):
    first, second = submit(fake_aifaceswap), submit(fake_aifaceswap)
    urls = [fake_aifaceswap.jobs[t].result_urls["result_image"] for t in (first, second)]
    wait_finished(fake_aifaceswap, first, second)
    images = [requests.get(u, timeout=TIMEOUT) for u in urls]
    assert all(i.status_code == 200 and i.headers["Content-Type"] == "image/png" for i in images)
    assert [png_size(i.content) for i in images] == [(64, 64), (64, 64)]
    assert images[0].content != images[1].content  # distinct per job
    head = requests.head(urls[0], timeout=TIMEOUT)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(images[0].content)
    assert requests.post(urls[0], timeout=TIMEOUT).status_code == 405
    assert (
        requests.get(fake_aifaceswap.url("/aifaceswap/result/nope.png"), timeout=TIMEOUT).status_code == 404
    )
    assert requests.get(fake_aifaceswap.url("/"), timeout=TIMEOUT).status_code == 404


def test_cdn_faults_only_by_path(fake_ttapi):
    swap = fake_ttapi.url("/insightFace/v1/swap")
    body = {"targetImage": URL_A, "swapImage": URL_B}
    resp = requests.post(swap, headers={"TT-API-KEY": KEY}, json=body, timeout=TIMEOUT)
    jid = resp.json()["data"]["jobId"]
    job = fake_ttapi.jobs[jid]
    wait_finished(fake_ttapi, jid)
    fake_ttapi.inject("gateway_timeout", times=None)  # without a path: API paths only
    assert requests.post(swap, headers={"TT-API-KEY": KEY}, json=body, timeout=TIMEOUT).status_code == 504
    assert requests.get(job.result_urls["cdnImage"], timeout=TIMEOUT).status_code == 200
    fake_ttapi.inject("slow", path="/mjcdn/", seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(job.result_urls["cdnImage"], timeout=(2, 0.3))
    assert requests.get(job.result_urls["discordImage"], timeout=TIMEOUT).status_code == 200


def test_webhook_outcomes_are_recorded(fake_aifaceswap):
    with WebhookReceiver(status=500) as failing:
        submit(fake_aifaceswap, failing.url)
        (delivery,) = fake_aifaceswap.wait_for_webhooks(1)
        assert delivery.url == failing.url and delivery.status == 500
        assert len(failing.received) == 1
    submit(fake_aifaceswap, f"http://127.0.0.1:{free_port()}/closed")
    delivery = fake_aifaceswap.wait_for_webhooks(2)[1]
    assert delivery.status == "ConnectionError" and delivery.body["success"] == 1


def test_wait_for_webhooks_times_out(fake_aifaceswap):
    with pytest.raises(TimeoutError):
        fake_aifaceswap.wait_for_webhooks(1, timeout=0.1)


def test_reset_forgets_jobs_and_cdn(fake_aifaceswap, webhook_receiver):
    task = submit(fake_aifaceswap, webhook_receiver.url)
    url = fake_aifaceswap.jobs[task].result_urls["result_image"]
    fake_aifaceswap.wait_for_webhooks(1)
    fake_aifaceswap.reset()
    assert fake_aifaceswap.jobs == {} and fake_aifaceswap.webhook_deliveries == []
    assert requests.get(url, timeout=TIMEOUT).status_code == 404


def test_make_png_and_sniff(png_size, jpeg_bytes, png_bytes, webp_bytes):
    assert make_png("a") == make_png("a") != make_png("b")
    assert png_size(make_png("x", size=5)) == (5, 5)
    assert [sniff_image(b) for b in (jpeg_bytes, png_bytes, webp_bytes)] == ["jpeg", "png", "webp"]
    assert (
        sniff_image(b"GIF89a") is None and sniff_image(b"RIFF1234WAVE") is None and sniff_image(b"") is None
    )


def test_cli_runs_one_fake_in_the_foreground():
    proc = subprocess.Popen(
        [sys.executable, "-m", "swapgate_dev.fakes", "aifaceswap", "--port", "0", "--api-key", "cli-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=20)
        assert line and line[0].startswith("aifaceswap http://127.0.0.1:"), line
        base = line[0].split()[1]
        resp = requests.post(
            base + "/api/aifaceswap/v1/extract_face",
            headers={"Authorization": "Bearer cli-key"},
            json={"img": URL_A},
            timeout=TIMEOUT,
        )
        assert resp.status_code == 200 and len(resp.json()["data"]["faces"]) == 3
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        assert "cli-key" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
