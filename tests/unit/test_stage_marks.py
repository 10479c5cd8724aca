"""The built-in engine's results (``s3://`` under ``engine/``) are marked when staged, like any provider's,
and signed with C2PA after the mark when the deployment names a signing secret."""

from __future__ import annotations

import io
import sys

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from support.c2pa_certs import certificate_chain, read_manifest_store
from swapgate import provenance
from swapgate.errors import SigningUnavailable
from swapgate.images import CONTENT_TYPES
from swapgate.provenance import c2pa_secret
from swapgate.storage import Storage

# Pillow (installed with the `local` extra) makes and decodes the test images; the 3.13 run has none
Image = pytest.importorskip("PIL.Image")

BUCKET = "marks-test"


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp"])
def test_engine_result_is_marked_when_staged(kind, monkeypatch):
    monkeypatch.delenv("SWAPGATE_PROVENANCE", raising=False)
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format=kind.upper())
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="engine/job_1.out", Body=out.getvalue())
        staged = Storage(BUCKET, s3).stage_result("job_1", f"s3://{BUCKET}/engine/job_1.out", trusted_s3=True)
        stored = s3.get_object(Bucket=BUCKET, Key=staged.key)["Body"].read()
    assert provenance.read_marks(stored) == staged.provenance
    assert staged.provenance == {"digital_source_type": provenance.COMPOSITE_TRAINED, "c2pa": False}


# --- C2PA signing ------------------------------------------------------------------------------------


@pytest.fixture
def signing_secret(monkeypatch):
    """The deployment names a C2PA signing secret (``sign/c2pa``: each test creates it in moto)."""
    monkeypatch.delenv("SWAPGATE_PROVENANCE", raising=False)
    monkeypatch.setenv(c2pa_secret.NAME_VARIABLE, "sign/c2pa")
    monkeypatch.delenv(c2pa_secret.ALG_VARIABLE, raising=False)  # es256
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # Powertools makes its own client
    parameters.clear_caches()
    c2pa_secret._usable.cache_clear()
    yield "sign/c2pa"
    parameters.clear_caches()
    c2pa_secret._usable.cache_clear()


def _stage_engine_result(image: bytes, secret: tuple[str, str] | None) -> tuple[bytes, dict | None]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="engine/job_1.out", Body=image)
        if secret:
            boto3.client("secretsmanager", region_name="us-east-1").create_secret(
                Name=secret[0], SecretString=secret[1]
            )
        staged = Storage(BUCKET, s3).stage_result("job_1", f"s3://{BUCKET}/engine/job_1.out", trusted_s3=True)
        return s3.get_object(Bucket=BUCKET, Key=staged.key)["Body"].read(), staged.provenance


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp"])
def test_engine_result_is_signed_after_its_mark_when_the_deployment_signs(kind, signing_secret):
    c2pa = pytest.importorskip("c2pa")
    chain, key, root = certificate_chain()
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format=kind.upper())

    stored, marks = _stage_engine_result(out.getvalue(), (signing_secret, (chain + key).decode()))

    assert (
        marks
        == provenance.read_marks(stored)
        == {"digital_source_type": provenance.COMPOSITE_TRAINED, "c2pa": True}
    )
    store = read_manifest_store(c2pa, stored, CONTENT_TYPES[kind], root)
    assert store["validation_state"] == "Trusted", store.get("validation_results")


def test_without_the_c2pa_library_a_named_secret_leaves_the_xmp_mark_alone(signing_secret, monkeypatch):
    chain, key, _ = certificate_chain()
    monkeypatch.setitem(sys.modules, "c2pa", None)  # not installed (no C2paLayer): import fails
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format="PNG")

    stored, marks = _stage_engine_result(out.getvalue(), (signing_secret, (chain + key).decode()))

    assert (
        marks
        == provenance.read_marks(stored)
        == {"digital_source_type": provenance.COMPOSITE_TRAINED, "c2pa": False}
    )


def test_an_unreadable_secret_stages_nothing(signing_secret):
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, format="PNG")
    with pytest.raises(SigningUnavailable) as raised:
        _stage_engine_result(out.getvalue(), None)  # no such secret
    assert raised.value.retryable
