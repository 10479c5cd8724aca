"""End to end: the local stack as a subprocess, driven only through HTTP and S3 (issue 6).

The provider API pages' example client code runs unchanged but for the base URL, the key, the image
URLs and the webhook (the example hosts are not reachable from here).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from e2e_stack import API_KEY, FACES, descendants, port_is_free, running
from standardwebhooks.webhooks import Webhook
from swapgate import provenance
from swapgate.providers.builtin import engine_available
from swapgate_dev.local.running import stop_stack

pytestmark = pytest.mark.e2e
needs_engine = pytest.mark.skipif(not engine_available(), reason="the local face engine is not installed")


def decode_image(data: bytes):
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a decodable image"
    return image


def assert_swapped(result: bytes, source: bytes, face: bytes) -> None:
    """A valid image of the source's size, different from both inputs."""
    assert result not in (source, face)
    got, original = decode_image(result), decode_image(source)
    assert got.shape == original.shape
    assert (abs(got.astype(int) - original.astype(int)) > 16).sum() > 100  # pixels really changed


def result_bytes(job: dict) -> bytes:
    assert job["status"] == "succeeded", job
    response = requests.get(job["result_url"], timeout=30)
    assert response.status_code == 200
    return response.content


@needs_engine
def test_swap_by_multipart_with_the_builtin_provider_by_its_old_name(stack, faces):
    source, face = faces["astronaut.png"], faces["grace_hopper.jpg"]
    response = stack.post(
        "/v1/swaps",
        files={
            "source_image": ("astronaut.png", source, "image/png"),
            "face_image": ("g.jpg", face, "image/jpeg"),
        },
        data={"provider": "local"},
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    # `local` is the engine's former name: the job runs on (and reports) `builtin`
    assert accepted["provider"] == "builtin" and accepted["status"] in ("queued", "running")
    job = stack.wait_for_job(accepted["id"])
    assert_swapped(result_bytes(job), source, face)


@needs_engine
def test_swap_by_json_with_presigned_uploads(stack, faces):
    source, face = faces["astronaut.png"], faces["grace_hopper.jpg"]
    references = []
    for name, data, content_type in (("a.png", source, "image/png"), ("g.jpg", face, "image/jpeg")):
        ticket = stack.post("/v1/uploads")
        assert ticket.status_code == 200, ticket.text
        ticket = ticket.json()
        assert ticket["url"].startswith(stack.aws_url)
        upload = requests.post(
            ticket["url"],
            data={**ticket["fields"], "Content-Type": content_type},
            files={"file": (name, data, content_type)},
            timeout=30,
        )
        assert upload.status_code in (200, 204), upload.text
        references.append(ticket["reference"])
    response = stack.post(
        "/v1/swaps", json={"source_image": references[0], "face_image": references[1], "provider": "builtin"}
    )
    assert response.status_code == 202, response.text
    job = stack.wait_for_job(response.json()["id"])
    assert_swapped(result_bytes(job), source, face)


def test_swagger_ui_and_openapi(stack):
    docs = requests.get(f"{stack.api_url}/v1/docs", headers=stack.headers(), timeout=30)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = stack.get("/v1/openapi.json").json()
    assert "/v1/swaps" in spec["paths"]


def test_unknown_route_and_missing_key(stack):
    unknown = requests.get(f"{stack.api_url}/nope", timeout=10)  # as API Gateway answers it
    assert unknown.status_code == 403 and unknown.json() == {"message": "Missing Authentication Token"}
    response = requests.post(f"{stack.api_url}/v1/swaps", json={}, timeout=10)
    assert response.status_code == 401


def test_aifaceswap_page_example_against_the_compatibility_route(
    aifaceswap_stack, fake_aifaceswap, webhook_receiver
):
    stack = aifaceswap_stack
    url = f"{stack.api_url}/api/aifaceswap/v1/faceswap"
    headers = {
        "Authorization": f"Bearer {API_KEY}"  # your api key
    }
    # Method1: by image links to generate
    data1 = {
        "source_image": f"{fake_aifaceswap.base_url}/static_img/8a1bce5ea303791589165a5f607e7399.webp",
        "face_image": f"{fake_aifaceswap.base_url}/static_img/1f153b1ab8d134f1eff57eb527467137.webp",
        "webhook": webhook_receiver.url,
    }
    response = requests.post(url, headers=headers, json=data1, timeout=30)
    print(response.json())
    body = response.json()
    assert body["code"] == 200 and body["message"] == "OK" and body["data"]["points"] == 2
    (delivery,) = webhook_receiver.wait_for(1, timeout=30)
    # The client's webhook comes in aifaceswap's callback format, with this deployment's copy.
    assert delivery.json["success"] == 1 and delivery.json["task_id"] == body["data"]["task_id"]
    assert fake_aifaceswap.base_url not in delivery.json["result_image"]
    copy = requests.get(delivery.json["result_image"], timeout=30)
    assert copy.status_code == 200
    provider_job = list(fake_aifaceswap.jobs)[-1]  # the job Swapgate started behind the route
    assert copy.content == provenance.mark(fake_aifaceswap.result_image(provider_job))  # marked, pixels kept


def test_ttapi_page_example_against_the_compatibility_routes(stack, fake_ttapi):
    your_key = API_KEY
    endpoint = f"{stack.api_url}/insightFace/v1/swap"
    headers = {"TT-API-KEY": your_key}
    data = {
        "targetImage": f"{fake_ttapi.base_url}/2024-04-23/tar_image.jpg",
        "swapImage": f"{fake_ttapi.base_url}/2024-04-23/face_image.jpg",
    }
    response = requests.post(endpoint, headers=headers, json=data, timeout=30)
    print(response.status_code)
    print(response.json())
    assert response.status_code == 200 and response.json()["status"] == "SUCCESS"
    job_id = response.json()["data"]["jobId"]

    endpoint = f"{stack.api_url}/insightFace/v1/fetch"
    data = {"jobId": job_id}
    deadline = time.monotonic() + 30
    while True:
        response = requests.post(endpoint, headers=headers, json=data, timeout=30)
        fetched = response.json()
        if fetched["status"] in ("SUCCESS", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert fetched["status"] == "SUCCESS", fetched
    cdn = fetched["data"]["cdnImage"]
    assert cdn.startswith(stack.aws_url)  # this deployment's copy, not the provider's
    assert requests.get(cdn, timeout=30).status_code == 200


def submit(stack, fake, provider: str, **fields: str) -> str:
    """POST /v1/swaps of two images on ``fake``'s CDN to ``provider`` (and ``fields``); the job's id."""
    body = {
        "source_image": f"{fake.base_url}/in/target.png",
        "face_image": f"{fake.base_url}/in/face.png",
        "provider": provider,
        **fields,
    }
    response = stack.post("/v1/swaps", json=body)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_ttapi_job_without_webhook_completes_through_the_poller(stack, fake_ttapi):
    fetches_before = len(fake_ttapi.requests_to("/insightFace/v1/fetch"))
    fake_ttapi.inject("no_webhook")
    job_id = submit(stack, fake_ttapi, "ttapi")
    job = stack.wait_for_job(job_id, timeout=30)
    assert job["status"] == "succeeded"
    assert not fake_ttapi.webhook_deliveries or all(
        job_id not in delivery.url for delivery in fake_ttapi.webhook_deliveries
    )
    assert len(fake_ttapi.requests_to("/insightFace/v1/fetch")) > fetches_before, "the poller never fetched"
    assert requests.get(job["result_url"], timeout=30).status_code == 200


def test_aifaceswap_job_whose_webhook_never_arrives_times_out(stack, fake_aifaceswap):
    fake_aifaceswap.inject("no_webhook")
    job = stack.wait_for_job(
        submit(stack, fake_aifaceswap, "aifaceswap"), timeout=60
    )  # the stack's deadline is 15 s
    assert job["status"] == "timed_out"
    assert job["error"]["code"]


def test_client_webhook_is_correctly_signed(stack, fake_ttapi, webhook_receiver):
    job_id = submit(stack, fake_ttapi, "ttapi", webhook=webhook_receiver.url)
    (delivery,) = webhook_receiver.wait_for(1, timeout=60)
    headers = {name.lower(): value for name, value in delivery.headers.items()}
    payload = Webhook(stack.webhook_secret).verify(delivery.body, headers)
    assert payload["id"] == job_id and payload["status"] == "succeeded"
    with pytest.raises(Exception):
        Webhook("whsec_" + "A" * 32).verify(delivery.body, headers)


def test_s3_manifest_in_inbox_ends_with_results_and_an_outbox_record(stack, fake_ttapi):
    s3 = stack.client("s3")
    manifest = {
        "jobs": [
            {
                "source_image": f"{fake_ttapi.base_url}/in/a.png",
                "face_image": f"{fake_ttapi.base_url}/in/b.png",
                "provider": "ttapi",
            },
            {
                "source_image": f"{fake_ttapi.base_url}/in/c.png",
                "face_image": f"{fake_ttapi.base_url}/in/d.png",
                "provider": "ttapi",
            },
        ]
    }
    s3.put_object(Bucket=stack.bucket, Key="inbox/e2e/batch one.json", Body=json.dumps(manifest).encode())
    deadline = time.monotonic() + 90
    record = None
    while record is None and time.monotonic() < deadline:
        try:
            body = s3.get_object(Bucket=stack.bucket, Key="outbox/e2e/batch one.result.json")["Body"].read()
            record = json.loads(body)
        except s3.exceptions.NoSuchKey:
            time.sleep(0.5)
    assert record is not None, "no outbox record\n" + stack.tail()
    jobs = record["jobs"] if isinstance(record, dict) and "jobs" in record else record
    assert len(jobs) == 2
    for job in jobs:
        assert job["status"] == "succeeded", job
        head = s3.head_object(Bucket=stack.bucket, Key=job["result_key"])
        assert head["ContentLength"] > 0
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=stack.bucket, Key="outbox/e2e/batch one.error.json")


def test_sigint_stops_everything_and_frees_the_ports(aifaceswap_stack):
    """Ctrl-C (SIGINT) ends the stack's process cleanly, frees both ports and leaves no process of
    its own running (the functions' execution environments, their zygote)."""
    stack = aifaceswap_stack
    assert requests.get(f"{stack.api_url}/v1/openapi.json", headers=stack.headers(), timeout=30).ok
    processes = descendants(stack.process.pid)
    assert len(processes) >= 2  # the zygote and at least the API's environment
    code = stop_stack(stack, signal.SIGINT, group=True)  # Ctrl-C reaches every process of the group
    assert code == 0, stack.tail()
    assert port_is_free(stack.api_port) and port_is_free(stack.aws_port)
    deadline = time.monotonic() + 10
    while running(processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running(processes) == []
    print(f"ready after {stack.ready_seconds:.1f} s (stack reports {stack.reported_seconds:.1f} s)")


def run_cli(stack, *args: str) -> subprocess.CompletedProcess:
    """The ``swapgate`` command against the stack (URL and key from the environment), run as
    ``python -m swapgate_cli``: the console script's ``main`` without depending on how old the install
    is (tests/cli checks the script itself)."""
    env = {**os.environ, "SWAPGATE_URL": stack.api_url, "SWAPGATE_API_KEY": API_KEY}
    return subprocess.run(
        [sys.executable, "-m", "swapgate_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@needs_engine
def test_cli_swaps_waits_and_writes_the_result(stack, faces, tmp_path):
    out = tmp_path / "swapped.png"
    source, face = FACES / "astronaut.png", FACES / "grace_hopper.jpg"
    done = run_cli(stack, "swap", str(source), str(face), "--provider", "builtin", "--wait", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert_swapped(out.read_bytes(), faces["astronaut.png"], faces["grace_hopper.jpg"])


@needs_engine
def test_cli_faces_and_a_clear_error(stack):
    found = run_cli(stack, "faces", str(FACES / "two_faces.jpg"), "--provider", "builtin", "--json")
    assert found.returncode == 0, found.stderr
    assert len(json.loads(found.stdout)["faces"]) == 2
    missing = run_cli(stack, "status", "job_doesnotexist")
    assert missing.returncode == 1
    assert "error" in missing.stderr.lower() and "Traceback" not in missing.stderr
