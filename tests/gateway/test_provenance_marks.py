"""Every result Swapgate stores carries the IPTC digital source type in its XMP, whatever the provider
and the image type; ``SWAPGATE_PROVENANCE=off`` turns marking off explicitly."""

from __future__ import annotations

import io

import pytest
from support.deployment import BUCKET
from support.pictures import solid_image
from swapgate import provenance
from swapgate.images import sniff

# Pillow (installed with the `local` extra) makes and decodes the test images; the 3.13 run has none
Image = pytest.importorskip("PIL.Image")


def _swap(deployment, fake, provider: str) -> str:
    source = f"{fake.base_url}/cdn/a.png"
    answer = deployment.api(
        "POST", "/v1/swaps", json_body={"source_image": source, "face_image": source, "provider": provider}
    )
    assert answer.status == 202, answer.body
    (callback,) = deployment.deliver_callbacks(1)
    assert callback.body["status"] == "succeeded", callback.body
    return answer.body["id"]


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp"])
@pytest.mark.parametrize("provider", ["aifaceswap", "ttapi"])
def test_stored_result_carries_the_digital_source_type(
    deployment, fake_aifaceswap, fake_ttapi, monkeypatch, provider, kind
):
    fake = fake_aifaceswap if provider == "aifaceswap" else fake_ttapi
    original = solid_image(kind)
    monkeypatch.setattr(fake, "result_image", lambda job_id: original)

    job_id = _swap(deployment, fake, provider)

    (key,) = deployment.keys("results/")
    stored = deployment.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert sniff(stored) == kind
    marks = provenance.read_marks(stored)
    assert marks == {"digital_source_type": provenance.COMPOSITE_TRAINED, "c2pa": False}
    view = deployment.api("GET", f"/v1/swaps/{job_id}", resource="/v1/swaps/{id}")
    assert view.body["provenance"] == marks
    # the pixels are the provider's, byte for byte
    assert Image.open(io.BytesIO(stored)).tobytes() == Image.open(io.BytesIO(original)).tobytes()


def test_marking_off_stores_the_provider_bytes_unchanged(deployment, fake_aifaceswap, monkeypatch):
    monkeypatch.setenv("SWAPGATE_PROVENANCE", "off")
    original = solid_image("png")
    monkeypatch.setattr(fake_aifaceswap, "result_image", lambda job_id: original)

    job_id = _swap(deployment, fake_aifaceswap, "aifaceswap")

    (key,) = deployment.keys("results/")
    assert deployment.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == original
    view = deployment.api("GET", f"/v1/swaps/{job_id}", resource="/v1/swaps/{id}")
    assert view.body["provenance"] is None
