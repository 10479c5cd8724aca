"""A deployment with a C2PA signing secret (``C2paSigningSecret`` -> ``SWAPGATE_C2PA_SECRET_ID``) signs
every result it stores, after the XMP mark, whatever path finished the job: the provider's webhook
(callback function) or the poller's fetch (poll function). The secret lives in moto's Secrets Manager
and is read by the real handlers; the C2PA library's own reader checks the stored files against the
test root. A secret that can never sign leaves results XMP-marked (``c2pa: false``); a secret that
cannot be read now leaves the job running until a retry can sign."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from support.c2pa_certs import SIGNER_NAME, certificate_chain, read_manifest_store
from support.deployment import BUCKET
from support.pictures import solid_image
from swapgate import provenance
from swapgate.errors import SigningUnavailable
from swapgate.images import CONTENT_TYPES, sniff
from swapgate.provenance import c2pa_secret

c2pa = pytest.importorskip("c2pa", reason="c2pa-python is not installed (pyproject's dev extra pins it)")
# Pillow (installed with the `local` extra) makes and decodes the test images; the 3.13 run has none
Image = pytest.importorskip("PIL.Image")

SECRET = "swapgate/test/c2pa-signing"
SIGNED = {"digital_source_type": provenance.COMPOSITE_TRAINED, "c2pa": True}
MARKED_ONLY = {"digital_source_type": provenance.COMPOSITE_TRAINED, "c2pa": False}


@pytest.fixture(scope="module")
def certificates() -> tuple[bytes, bytes, bytes]:
    return certificate_chain()  # (chain, key, root)


@pytest.fixture
def signing(deployment, monkeypatch) -> Iterator[None]:
    """The functions sign with the secret ``SECRET`` (created by each test); caches start empty."""
    monkeypatch.setenv(c2pa_secret.NAME_VARIABLE, SECRET)
    monkeypatch.setenv(c2pa_secret.ALG_VARIABLE, "es256")
    parameters.clear_caches()
    c2pa_secret._usable.cache_clear()
    yield
    parameters.clear_caches()
    c2pa_secret._usable.cache_clear()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """What the functions log (their Powertools service logger, children included)."""
    service_logger = logging.getLogger("swapgate")
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    service_logger.addHandler(capture)
    yield stream
    service_logger.removeHandler(capture)


def _create_secret(value: str) -> None:
    boto3.client("secretsmanager").create_secret(Name=SECRET, SecretString=value)


def _submit(deployment, fake, provider: str) -> str:
    source = f"{fake.base_url}/cdn/a.png"
    answer = deployment.api(
        "POST", "/v1/swaps", json_body={"source_image": source, "face_image": source, "provider": provider}
    )
    assert answer.status == 202, answer.body
    return answer.body["id"]


def _stored(deployment) -> bytes:
    (key,) = deployment.keys("results/")
    return deployment.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def _view(deployment, job_id: str) -> dict:
    return deployment.api("GET", f"/v1/swaps/{job_id}", resource="/v1/swaps/{id}").body


def _assert_signed_by_the_test_certificate(data: bytes, root: bytes) -> None:
    store = read_manifest_store(c2pa, data, CONTENT_TYPES[sniff(data)], root)
    assert store["validation_state"] == "Trusted", store.get("validation_results")
    manifest = store["manifests"][store["active_manifest"]]
    assert manifest["signature_info"]["common_name"] == SIGNER_NAME
    [actions] = [
        a["data"]["actions"] for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")
    ]
    [edited] = [a for a in actions if a["action"] == "c2pa.edited"]
    assert edited["digitalSourceType"] == provenance.COMPOSITE_TRAINED


def _poll(deployment, job_id: str) -> dict:
    """The poll function's ``Poll`` task for the job, as the state machine hands it over."""
    deadline = int(time.time()) + 600
    event = {"job_id": job_id, "interval_seconds": 0, "max_interval_seconds": 0, "deadline": deadline}
    return deployment.poll({**event, "deadline_at": None, "action": "poll"})


# --- signed -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp"])
def test_a_result_finished_by_webhook_is_marked_then_signed(
    deployment, signing, certificates, fake_aifaceswap, monkeypatch, kind
):
    chain, key, root = certificates
    _create_secret((chain + key).decode())
    original = solid_image(kind)
    monkeypatch.setattr(fake_aifaceswap, "result_image", lambda job_id: original)

    job_id = _submit(deployment, fake_aifaceswap, "aifaceswap")
    (callback,) = deployment.deliver_callbacks(1)

    assert callback.body["status"] == "succeeded", callback.body
    stored = _stored(deployment)
    assert sniff(stored) == kind
    assert provenance.read_marks(stored) == SIGNED  # the XMP mark is inside what the manifest signs
    _assert_signed_by_the_test_certificate(stored, root)
    assert _view(deployment, job_id)["provenance"] == SIGNED
    assert Image.open(io.BytesIO(stored)).tobytes() == Image.open(io.BytesIO(original)).tobytes()


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp"])
def test_a_result_finished_by_the_pollers_fetch_is_signed(
    deployment, signing, certificates, fake_ttapi, monkeypatch, kind
):
    chain, key, root = certificates
    _create_secret((key + chain).decode())  # the bundle's order does not matter
    monkeypatch.setattr(fake_ttapi, "result_image", lambda job_id: solid_image(kind))
    fake_ttapi.inject("no_webhook")
    job_id = _submit(deployment, fake_ttapi, "ttapi")
    time.sleep(0.2)  # the fake finishes its job after 0.05 s

    assert _poll(deployment, job_id)["status"] == "succeeded"

    stored = _stored(deployment)
    assert sniff(stored) == kind and provenance.read_marks(stored) == SIGNED
    _assert_signed_by_the_test_certificate(stored, root)
    assert _view(deployment, job_id)["provenance"] == SIGNED


# --- a secret that can never sign ---------------------------------------------------------------------


@pytest.mark.parametrize("problem", ["no key", "two keys", "another algorithm", "not PEM"])
def test_a_secret_that_cannot_sign_leaves_results_marked_and_is_logged_once_without_its_value(
    deployment, signing, certificates, fake_aifaceswap, monkeypatch, logs, problem
):
    chain, key, _ = certificates
    value = {
        "no key": chain,
        "two keys": chain + key + key,
        "another algorithm": chain + key,
        "not PEM": b"certificate and key, somewhere",
    }[problem]
    if problem == "another algorithm":
        monkeypatch.setenv(c2pa_secret.ALG_VARIABLE, "ps256")  # an RSA-PSS algorithm for an EC key
    _create_secret(value.decode())

    views = []
    for _ in range(2):
        job_id = _submit(deployment, fake_aifaceswap, "aifaceswap")
        (callback,) = deployment.deliver_callbacks(1)
        assert callback.body["status"] == "succeeded", callback.body
        views.append(_view(deployment, job_id)["provenance"])

    assert views == [MARKED_ONLY, MARKED_ONLY]
    for key_name in deployment.keys("results/"):
        stored = deployment.s3.get_object(Bucket=BUCKET, Key=key_name)["Body"].read()
        assert provenance.read_marks(stored) == MARKED_ONLY
    logged = logs.getvalue()
    assert logged.count("the C2PA signing secret cannot sign") == 1  # once, not per job
    key_line, cert_line = key.decode().splitlines()[1], chain.decode().splitlines()[1]
    assert key_line not in logged and cert_line not in logged and "-----BEGIN" not in logged


# --- a secret that cannot be read now -----------------------------------------------------------------


def test_an_unreadable_secret_stores_nothing_unsigned_and_the_providers_retry_finishes(
    deployment, signing, certificates, fake_aifaceswap
):
    job_id = _submit(deployment, fake_aifaceswap, "aifaceswap")
    (hook,) = deployment.callbacks.wait_for(1)

    refused = deployment.deliver_callbacks(1)[0]  # the secret does not exist (yet)

    assert refused.status == 503 and refused.body["error"]["code"] == "signing_unavailable"
    assert deployment.keys("results/") == [] and deployment.keys("staging/") == []
    assert deployment.job(job_id)["status"] == "running"
    chain, key, root = certificates
    _create_secret((chain + key).decode())

    retried = deployment.callback(hook.path, hook.body)  # the provider sends its webhook again

    assert retried.status == 200 and retried.body["status"] == "succeeded"
    _assert_signed_by_the_test_certificate(_stored(deployment), root)
    assert _view(deployment, job_id)["provenance"] == SIGNED


def test_an_unreadable_secret_fails_the_poll_and_the_next_poll_finishes(
    deployment, signing, certificates, fake_ttapi
):
    fake_ttapi.inject("no_webhook")
    job_id = _submit(deployment, fake_ttapi, "ttapi")
    time.sleep(0.2)

    with pytest.raises(SigningUnavailable):  # the poller's Retry calls the poll function again
        _poll(deployment, job_id)

    assert deployment.keys("results/") == [] and deployment.job(job_id)["status"] == "running"
    chain, key, root = certificates
    _create_secret((chain + key).decode())
    assert _poll(deployment, job_id)["status"] == "succeeded"
    _assert_signed_by_the_test_certificate(_stored(deployment), root)


# --- marking off ------------------------------------------------------------------------------------


def test_marking_off_means_no_signing_either(deployment, signing, fake_aifaceswap, monkeypatch):
    monkeypatch.setenv("SWAPGATE_PROVENANCE", "off")
    original = solid_image("png")
    monkeypatch.setattr(fake_aifaceswap, "result_image", lambda job_id: original)

    job_id = _submit(deployment, fake_aifaceswap, "aifaceswap")  # no secret exists: never read
    (callback,) = deployment.deliver_callbacks(1)

    assert callback.body["status"] == "succeeded", callback.body
    assert _stored(deployment) == original
    assert _view(deployment, job_id)["provenance"] is None
