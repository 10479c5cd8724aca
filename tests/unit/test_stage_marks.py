"""The built-in engine's results (``s3://`` under ``engine/``) are marked when staged, like any provider's."""

from __future__ import annotations

import io

import boto3
import pytest
from moto import mock_aws
from swapgate import provenance
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
