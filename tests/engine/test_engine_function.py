"""The EngineFunction as it ships: built by functions/engine/Makefile (the target ``sam build`` runs, from
the same requirements file), then run in a separate interpreter with only the bundle and the Lambda
runtime's boto3 on ``sys.path``, against a real moto S3 and a loopback webhook receiver.

The ``builtin`` provider submits the jobs and detects faces through ``LambdaDispatch`` (the AWS path),
whose Lambda client here invokes that interpreter. With a python3.12 on the machine the bundle is
byte for byte the one that ships; without one it is the same package list for this Python.
"""

from __future__ import annotations

import json
import platform
import sys

import boto3
import pytest
from botocore.config import Config
from support import FACES
from swapgate.errors import SwapgateError
from swapgate.providers.base import ImageInput, ProviderState
from swapgate.providers.builtin import BuiltinProvider
from swapgate.providers.builtin_dispatch import LambdaDispatch
from swapgate_dev.engine_function import (
    LAMBDA_UNZIPPED_LIMIT,
    EngineProcess,
    build,
    find_python312,
    python_version,
    runtime_dir,
    size_bytes,
)
from swapgate_dev.local.aws import MotoServer

pytestmark = [
    pytest.mark.skipif(platform.machine() != "x86_64", reason="the EngineFunction is built for x86_64"),
    pytest.mark.timeout(900),
]

BUCKET = "swapgate-engine-function-test"
HEAVY = {"jax", "jaxlib", "matplotlib", "scipy", "sounddevice", "tensorflow", "torch", "PIL"}


def photo(name: str) -> bytes:
    return (FACES / name).read_bytes()


@pytest.fixture(scope="module")
def python() -> str:
    return find_python312() or sys.executable


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, python):
    return build(tmp_path_factory.mktemp("build") / "EngineFunction", python)


@pytest.fixture(scope="module")
def moto():
    server = MotoServer("127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3(moto):
    client = boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(connect_timeout=5, read_timeout=30),
    )
    client.create_bucket(Bucket=BUCKET)
    yield client
    client.close()


@pytest.fixture(scope="module")
def engine_process(bundle, python, moto, tmp_path_factory):
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto.url,
        "SWAPGATE_BUCKET": BUCKET,
        "SWAPGATE_ALLOW_PRIVATE_URLS": "1",  # the webhook goes to a loopback receiver
    }
    process = EngineProcess(bundle, python, env, runtime_dir(tmp_path_factory.mktemp("runtime")))
    yield process
    process.close()


@pytest.fixture
def provider(s3, engine_process, monkeypatch):
    monkeypatch.setenv("SWAPGATE_ALLOW_PRIVATE_URLS", "1")
    dispatch = LambdaDispatch("swapgate-EngineFunction", client=engine_process.lambda_client())
    return BuiltinProvider(bucket=BUCKET, s3=s3, dispatch=dispatch)


def record(s3, job_id: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=f"engine/{job_id}.json")["Body"].read())


def test_bundle_is_trimmed_and_fits_lambda(bundle, python):
    names = {path.name.split("-")[0].lower() for path in bundle.glob("*.dist-info")}
    assert names == {
        "mediapipe",
        "numpy",
        "opencv_python_headless",
        "protobuf",
        "requests",
        "urllib3",
        "idna",
        "charset_normalizer",
        "certifi",
        "aws_lambda_powertools",
        "jmespath",
        "typing_extensions",
    }
    assert not {path.name for path in bundle.iterdir()} & HEAVY
    assert (bundle / "engine" / "app.py").is_file() and (bundle / "swapgate" / "engine" / "core.py").is_file()
    assert not list(bundle.rglob("__pycache__"))
    assert sorted(p.name for p in bundle.rglob("*.tflite")) == [
        "face_detection_full_range_sparse.tflite",
        "face_detection_short_range.tflite",
        "face_landmark.tflite",
    ]
    if python_version(python) == "3.12":  # what ships: within the limit with a margin
        assert size_bytes(bundle) < 0.95 * LAMBDA_UNZIPPED_LIMIT


def test_swap_end_to_end(provider, s3, engine_process, webhook_receiver):
    source = photo("astronaut.png")
    job = provider.swap(
        ImageInput.from_bytes(source), ImageInput.from_bytes(photo("grace_hopper.jpg")), webhook_receiver.url
    )
    assert job.provider == "builtin" and job.state is ProviderState.QUEUED
    (hook,) = webhook_receiver.wait_for(1, timeout=30)
    key = f"engine/{job.job_id}.png"
    assert hook.json == {
        "job_id": job.job_id,
        "state": "succeeded",
        "result_url": f"s3://{BUCKET}/{key}",
        "error": None,
    }
    result = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert result[:8] == b"\x89PNG\r\n\x1a\n" and result != source
    fetched = provider.fetch(job.job_id)
    assert fetched.state is ProviderState.SUCCEEDED and fetched.result_url == f"s3://{BUCKET}/{key}"
    assert record(s3, job.job_id)["started_at"]

    # Lambda may deliver an async event again: a job already taken is not redone
    again = engine_process.invoke({"action": "run", "job_id": job.job_id})
    assert again == {"job_id": job.job_id, "state": "skipped"}
    assert len(webhook_receiver.received) == 1


def test_multi_swap_by_index(provider, s3, webhook_receiver):
    job = provider.multi_swap(
        ImageInput.from_bytes(photo("two_faces.jpg")),
        [ImageInput.from_bytes(photo("astronaut.png")), ImageInput.from_bytes(photo("grace_hopper.jpg"))],
        [1, 0],
        webhook_receiver.url,
    )
    (hook,) = webhook_receiver.wait_for(1, timeout=30)
    assert hook.json["state"] == "succeeded", hook.json
    result = s3.get_object(Bucket=BUCKET, Key=f"engine/{job.job_id}.jpg")["Body"].read()
    assert result[:3] == b"\xff\xd8\xff" and result != photo("two_faces.jpg")


def test_no_face_found_fails_the_job(provider, webhook_receiver):
    job = provider.swap(
        ImageInput.from_bytes(photo("astronaut.png")),
        ImageInput.from_bytes(photo("no_face_cat.png")),
        webhook_receiver.url,
    )
    (hook,) = webhook_receiver.wait_for(1, timeout=30)
    assert hook.json["state"] == "failed"
    assert hook.json["error"]["code"] == "no_face_detected"
    fetched = provider.fetch(job.job_id)
    assert fetched.state is ProviderState.FAILED and fetched.error_code == "no_face_detected"


def test_extract_faces(provider):
    boxes = provider.extract_faces(ImageInput.from_bytes(photo("two_faces.jpg")))
    assert boxes.cost == 0 and len(boxes.faces) == 2
    assert boxes.faces[0][0] < boxes.faces[1][0]  # left to right
    assert provider.extract_faces(ImageInput.from_bytes(photo("no_face_cat.png"))).faces == []


def test_engine_errors_reach_the_caller_with_their_code(provider, s3):
    s3.put_object(Bucket=BUCKET, Key="engine/detect-broken/image.png", Body=b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(SwapgateError) as err:
        provider.dispatch.detect(
            ImageInput.from_bytes(b"unused"), lambda: {"key": "engine/detect-broken/image.png"}
        )
    assert err.value.code == "invalid_image" and err.value.status == 415


def test_only_the_bundle_was_imported(engine_process, bundle):
    facts = engine_process.facts()
    assert not set(facts["modules"]) & HEAVY
    for name in ("cv2", "numpy", "mediapipe", "swapgate"):
        assert facts["files"][name].startswith(str(bundle)), (name, facts["files"][name])
    assert not any("site-packages" in entry for entry in facts["path"])
