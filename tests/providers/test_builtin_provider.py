"""The ``builtin`` provider: asynchronous jobs on the real engine, state in (moto) S3, webhooks to a
real loopback HTTP server, URL inputs downloaded from it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from swapgate.errors import (
    FaceIndexOutOfRange,
    InvalidImage,
    InvalidRequest,
    ProviderBadResponse,
    ProviderJobNotFound,
    ProviderNotConfigured,
)
from swapgate.providers.base import ImageInput, Operation, ProviderState
from swapgate.providers.builtin import BuiltinProvider
from swapgate.providers.builtin_jobs import JOB_ID_RE

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
BUCKET = "swapgate-local-test"
WAIT = 60  # seconds: generous for a slow CI machine; normally a job takes well under one


def photo(name: str) -> bytes:
    return (FACES / name).read_bytes()


class LoopbackServer:
    """Serves the fixture photos (``/faces/<name>``, ``/redirect/<name>``) and receives webhooks
    (``POST /hook``), answering the statuses queued in ``hook_statuses`` (then 200)."""

    def __init__(self) -> None:
        self.hooks: list[dict] = []
        self.hook_statuses: deque[int] = deque()
        self.cond = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", ctype: str = "text/plain", **headers) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                if len(parts) == 2 and parts[0] == "faces" and (FACES / parts[1]).is_file():
                    self._send(200, photo(parts[1]), "application/octet-stream")
                elif len(parts) == 2 and parts[0] == "redirect":
                    self._send(302, Location=f"/faces/{parts[1]}")
                else:
                    self._send(404, b"not found")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server.cond:
                    status = server.hook_statuses.popleft() if server.hook_statuses else 200
                    server.hooks.append(
                        {"status": status, "body": body, "content_type": self.headers.get("Content-Type")}
                    )
                    server.cond.notify_all()
                self._send(status, b"ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.base_url + path

    def wait_for_hooks(self, n: int, timeout: float = WAIT) -> list[dict]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.hooks) >= n, timeout=timeout):
                raise TimeoutError(f"{len(self.hooks)} of {n} webhooks after {timeout}s")
            return list(self.hooks)


@pytest.fixture
def server():
    srv = LoopbackServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    srv.thread.join(timeout=10)


@pytest.fixture
def env(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SWAPGATE_ALLOW_PRIVATE_URLS": "1",
        "SWAPGATE_BUCKET": BUCKET,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)


@pytest.fixture
def s3(env):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


class Waits(list):
    """An injectable sleep that records the waits."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def pool():
    executor = ThreadPoolExecutor(max_workers=2)
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def provider(s3, pool, waits):
    return BuiltinProvider(s3=s3, executor=pool, sleep=waits)


def state_of(s3, job_id: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=f"engine/{job_id}.json")["Body"].read())


def wait_done(provider: BuiltinProvider, job_id: str) -> None:
    """Poll the job state (as the gateway's poller does) until it is terminal."""
    pause = threading.Event()
    for _ in range(WAIT * 20):
        if provider.fetch(job_id).state.terminal:
            return
        pause.wait(0.05)
    raise TimeoutError(job_id)


# --- the asynchronous job -----------------------------------------------------------------------


def test_swap_bytes_end_to_end(provider, s3, server):
    source = photo("astronaut.png")
    job = provider.swap(
        ImageInput.from_bytes(source), ImageInput.from_bytes(photo("grace_hopper.jpg")), server.url("/hook")
    )
    assert job.provider == "builtin"
    assert JOB_ID_RE.match(job.job_id)
    assert job.state is ProviderState.QUEUED
    assert job.cost == 0

    (hook,) = server.wait_for_hooks(1)
    assert hook["content_type"].startswith("application/json")
    body = json.loads(hook["body"])
    key = f"engine/{job.job_id}.png"
    assert body == {
        "job_id": job.job_id,
        "state": "succeeded",
        "result_url": f"s3://{BUCKET}/{key}",
        "error": None,
    }
    obj = s3.get_object(Bucket=BUCKET, Key=key)
    assert obj["ContentType"] == "image/png"
    result = obj["Body"].read()
    assert result[:8] == b"\x89PNG\r\n\x1a\n"
    assert result != source and len(result) > 10_000

    fetched = provider.fetch(job.job_id)
    assert fetched.state is ProviderState.SUCCEEDED
    assert fetched.result_url == f"s3://{BUCKET}/{key}"
    assert fetched.cost == 0
    assert provider.parse_webhook(hook["body"]) == fetched
    state = state_of(s3, job.job_id)
    assert state["state"] == "succeeded" and state["operation"] == "swap"
    assert state["finished_at"] and state["seconds"] >= 0


def test_swap_urls_with_jpeg_source_gives_jpg(provider, s3, server):
    job = provider.swap(
        ImageInput.from_url(server.url("/faces/grace_hopper.jpg")),
        ImageInput.from_url(server.url("/redirect/astronaut.png")),  # redirects are followed
        server.url("/hook"),
    )
    body = json.loads(server.wait_for_hooks(1)[0]["body"])
    assert body["state"] == "succeeded", body
    assert body["result_url"] == f"s3://{BUCKET}/engine/{job.job_id}.jpg"
    obj = s3.get_object(Bucket=BUCKET, Key=f"engine/{job.job_id}.jpg")
    assert obj["ContentType"] == "image/jpeg"
    assert obj["Body"].read()[:3] == b"\xff\xd8\xff"


def test_multi_swap(provider, s3, server):
    job = provider.multi_swap(
        ImageInput.from_url(server.url("/faces/two_faces.jpg")),
        [ImageInput.from_bytes(photo("astronaut.png")), ImageInput.from_bytes(photo("grace_hopper.jpg"))],
        [1, 0],
        server.url("/hook"),
    )
    body = json.loads(server.wait_for_hooks(1)[0]["body"])
    assert body["state"] == "succeeded", body
    assert state_of(s3, job.job_id)["operation"] == "multi_swap"
    result = s3.get_object(Bucket=BUCKET, Key=f"engine/{job.job_id}.jpg")["Body"].read()
    assert result != photo("two_faces.jpg")


def test_job_is_asynchronous_fetch_sees_it_queued_then_done(s3, server, waits):
    gate = threading.Event()
    executor = ThreadPoolExecutor(max_workers=1)
    try:
        executor.submit(gate.wait, WAIT)  # keeps the only worker busy
        provider = BuiltinProvider(s3=s3, executor=executor, sleep=waits)
        job = provider.swap(
            ImageInput.from_bytes(photo("astronaut.png")), ImageInput.from_bytes(photo("grace_hopper.jpg"))
        )
        queued = provider.fetch(job.job_id)
        assert queued.state is ProviderState.QUEUED
        assert queued.result_url is None
        gate.set()
        wait_done(provider, job.job_id)
        assert provider.fetch(job.job_id).state is ProviderState.SUCCEEDED
        assert server.hooks == []  # no webhook_url, no webhook
    finally:
        gate.set()
        executor.shutdown(wait=True)


# --- failures ------------------------------------------------------------------------------------


def test_cat_as_face_fails_the_job(provider, server):
    job = provider.swap(
        ImageInput.from_bytes(photo("astronaut.png")),
        ImageInput.from_bytes(photo("no_face_cat.png")),
        server.url("/hook"),
    )
    hook = server.wait_for_hooks(1)[0]
    body = json.loads(hook["body"])
    assert body["state"] == "failed"
    assert body["result_url"] is None
    assert body["error"]["code"] == "no_face_detected"
    assert "face image" in body["error"]["message"]
    for seen in (provider.fetch(job.job_id), provider.parse_webhook(hook["body"])):
        assert seen.state is ProviderState.FAILED
        assert seen.error_code == "no_face_detected"
        assert "face image" in seen.error_message
        assert seen.cost == 0


def job_error(provider, server, source: str, face: str) -> dict:
    """Swap ``face`` into ``source`` for a job that fails: the error its webhook reports. An image is
    a path on ``server`` when it starts with a slash, else a fixture photo sent as bytes."""

    def image(name: str) -> ImageInput:
        if name.startswith("/"):
            return ImageInput.from_url(server.url(name))
        return ImageInput.from_bytes(photo(name))

    provider.swap(image(source), image(face), server.url("/hook"))
    return json.loads(server.wait_for_hooks(1)[0]["body"])["error"]


def test_cat_as_source_names_the_source(provider, server):
    error = job_error(provider, server, "no_face_cat.png", "astronaut.png")
    assert error["code"] == "no_face_detected"
    assert "source image" in error["message"]


def test_index_out_of_range_fails_the_job(provider, server):
    job = provider.multi_swap(
        ImageInput.from_bytes(photo("two_faces.jpg")),
        [ImageInput.from_bytes(photo("astronaut.png"))],
        [2],
        server.url("/hook"),
    )
    server.wait_for_hooks(1)
    fetched = provider.fetch(job.job_id)
    assert fetched.state is ProviderState.FAILED
    assert fetched.error_code == "face_index_out_of_range"


def test_unreachable_url_fails_the_job(provider, server):
    error = job_error(provider, server, "/faces/missing.png", "astronaut.png")
    assert error["code"] == "invalid_image"
    assert "source image" in error["message"] and "404" in error["message"]


def test_downloaded_bytes_that_are_no_image_fail_the_job(provider, server, monkeypatch):
    error = job_error(provider, server, "astronaut.png", "/faces/LICENSES.md")
    assert error["code"] == "invalid_image"
    assert "face image" in error["message"]


def test_download_size_cap(provider, server, monkeypatch):
    monkeypatch.setenv("SWAPGATE_MAX_IMAGE_BYTES", "1000")
    error = job_error(provider, server, "/faces/astronaut.png", "grace_hopper.jpg")
    assert error["code"] == "image_too_large"


@pytest.mark.parametrize(
    "data", [b"not an image at all", b"", b"\x89PNG\r\n\x1a\n"], ids=["text", "empty", "png-no-header"]
)
def test_invalid_bytes_are_refused_before_any_job(provider, s3, data):
    with pytest.raises(InvalidImage) as err:
        provider.swap(ImageInput.from_bytes(data), ImageInput.from_bytes(photo("astronaut.png")))
    assert err.value.field == "source_image"
    with pytest.raises(InvalidImage) as err:
        provider.swap(ImageInput.from_bytes(photo("astronaut.png")), ImageInput.from_bytes(data))
    assert err.value.field == "face_image"
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("faces", "indexes", "error"),
    [
        (1, [0, 1], InvalidRequest),
        (2, [0, 0], InvalidRequest),
        (0, [], InvalidRequest),
        (1, [-1], FaceIndexOutOfRange),
        (1, ["0"], InvalidRequest),
    ],
)
def test_bad_index_lists_are_refused_before_any_job(provider, s3, faces, indexes, error):
    with pytest.raises(error):
        provider.multi_swap(
            ImageInput.from_bytes(photo("two_faces.jpg")),
            [ImageInput.from_bytes(photo("astronaut.png"))] * faces,
            indexes,
        )
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_https_only_unless_private_urls_are_allowed(provider, s3, server, monkeypatch):
    monkeypatch.delenv("SWAPGATE_ALLOW_PRIVATE_URLS")
    image = ImageInput.from_url(server.url("/faces/astronaut.png"))
    with pytest.raises(InvalidRequest) as err:
        provider.swap(image, ImageInput.from_bytes(photo("grace_hopper.jpg")))
    assert err.value.field == "source_image"
    with pytest.raises(InvalidRequest) as err:
        provider.extract_faces(image)
    assert err.value.field == "image"
    with pytest.raises(InvalidRequest) as err:
        provider.swap(
            ImageInput.from_bytes(photo("astronaut.png")),
            ImageInput.from_bytes(photo("grace_hopper.jpg")),
            webhook_url=server.url("/hook"),
        )
    assert err.value.field == "webhook"
    # an https URL on a loopback address is refused too
    with pytest.raises(InvalidRequest):
        provider.swap(
            ImageInput.from_url("https://127.0.0.1/x.png"), ImageInput.from_bytes(photo("astronaut.png"))
        )
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_missing_bucket_names_the_variable(monkeypatch, env, pool):
    monkeypatch.delenv("SWAPGATE_BUCKET")
    provider = BuiltinProvider(executor=pool)
    with pytest.raises(ProviderNotConfigured) as err:
        provider.swap(
            ImageInput.from_bytes(photo("astronaut.png")), ImageInput.from_bytes(photo("grace_hopper.jpg"))
        )
    assert "SWAPGATE_BUCKET" in err.value.message


# --- webhooks ------------------------------------------------------------------------------------


def test_webhook_retried_after_a_server_error(provider, server, waits):
    server.hook_statuses.extend([503, 502])
    provider.swap(
        ImageInput.from_bytes(photo("astronaut.png")),
        ImageInput.from_bytes(photo("grace_hopper.jpg")),
        server.url("/hook"),
    )
    hooks = server.wait_for_hooks(3)
    assert [h["status"] for h in hooks] == [503, 502, 200]
    assert len({h["body"] for h in hooks}) == 1  # the same body each time
    assert waits == [0.5, 1.0]


def test_webhook_not_retried_when_refused(provider, server, pool, waits):
    server.hook_statuses.append(400)
    job = provider.swap(
        ImageInput.from_bytes(photo("astronaut.png")),
        ImageInput.from_bytes(photo("grace_hopper.jpg")),
        server.url("/hook"),
    )
    server.wait_for_hooks(1)
    pool.shutdown(wait=True)  # the job, webhook included, is over
    assert provider.fetch(job.job_id).state is ProviderState.SUCCEEDED
    assert len(server.hooks) == 1
    assert waits == []


def test_webhook_to_a_closed_port_gives_up_without_hanging(provider, pool, waits):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    job = provider.swap(
        ImageInput.from_bytes(photo("astronaut.png")),
        ImageInput.from_bytes(photo("grace_hopper.jpg")),
        f"http://127.0.0.1:{port}/hook",
    )
    pool.shutdown(wait=True)  # the job, webhook attempts included, is over
    assert provider.fetch(job.job_id).state is ProviderState.SUCCEEDED
    assert waits == [0.5, 1.0]  # three attempts


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        {"state": "succeeded", "result_url": "s3://b/engine/x.png"},
        {"job_id": "local-zzz", "state": "succeeded", "result_url": "s3://b/engine/x.png"},
        {"job_id": "local-" + "a" * 32, "state": "succeeded", "result_url": None},
        {"job_id": "local-" + "a" * 32, "state": "succeeded", "result_url": "https://evil/x.png"},
        {"job_id": "local-" + "a" * 32, "state": "running"},
        {"job_id": "local-" + "a" * 32, "state": "done"},
    ],
)
def test_parse_webhook_refuses_other_shapes(body):
    with pytest.raises(ProviderBadResponse):
        BuiltinProvider().parse_webhook(body)


def test_parse_webhook_failed_without_details():
    job = BuiltinProvider().parse_webhook({"job_id": "local-" + "b" * 32, "state": "failed", "error": None})
    assert job.state is ProviderState.FAILED
    assert job.error_code == "provider_job_failed"
    assert job.error_message


# --- fetch and extract_faces ----------------------------------------------------------------------


@pytest.mark.parametrize("job_id", ["local-" + "c" * 32, "nope", "local-../../etc", ""])
def test_fetch_unknown_job(provider, job_id):
    with pytest.raises(ProviderJobNotFound):
        provider.fetch(job_id)


def test_extract_faces_bytes_and_url(provider, server):
    boxes = provider.extract_faces(ImageInput.from_bytes(photo("two_faces.jpg")))
    assert boxes.cost == 0
    assert len(boxes.faces) == 2
    assert boxes.faces[0][0] < boxes.faces[1][0]
    by_url = provider.extract_faces(ImageInput.from_url(server.url("/faces/two_faces.jpg")))
    assert by_url.faces == boxes.faces
    assert provider.extract_faces(ImageInput.from_bytes(photo("no_face_cat.png"))).faces == []
    with pytest.raises(InvalidImage):
        provider.extract_faces(ImageInput.from_bytes(b"nope"))


def test_operations_and_repr():
    provider = BuiltinProvider(bucket="b")
    assert provider.name == "builtin"
    assert provider.operations == {
        Operation.SWAP,
        Operation.MULTI_SWAP,
        Operation.EXTRACT_FACES,
        Operation.FETCH,
    }
    assert repr(provider) == "BuiltinProvider(bucket='b')"


def test_module_does_not_import_opencv():
    code = (
        "import sys, swapgate.providers.builtin\n"
        "heavy = [m for m in ('cv2', 'numpy', 'mediapipe') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
