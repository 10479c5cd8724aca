"""The full life of a job through the handlers: submit -> fake provider -> webhook -> callback ->
result in S3 + job record -> GET gives a working result URL."""

from __future__ import annotations

import requests
from swapgate.images import sniff


def test_json_swap_with_aifaceswap_ends_with_result_copied_to_bucket(deployment, fake_aifaceswap):
    # GIVEN two image URLs (loopback is allowed in this test deployment)
    source = f"{fake_aifaceswap.base_url}/cdn/source.png"
    face = f"{fake_aifaceswap.base_url}/cdn/face.png"

    # WHEN a client submits a swap
    answer = deployment.api("POST", "/v1/swaps", json_body={"source_image": source, "face_image": face})

    # THEN it is accepted and running at the provider
    assert answer.status == 202, answer.body
    job_id = answer.body["id"]
    assert answer.body == {"id": job_id, "status": "running", "provider": "aifaceswap", "points": 2}
    sent = fake_aifaceswap.requests[-1]
    assert sent.path == "/api/aifaceswap/v1/faceswap"
    assert sent.json["source_image"] == source and sent.json["face_image"] == face
    assert sent.json["webhook"].startswith(
        f"{deployment.callbacks.base_url}/callbacks/aifaceswap/{job_id}?token="
    )

    # WHEN the provider's webhook reaches the callback function
    (callback,) = deployment.deliver_callbacks(1)
    assert callback.status == 200, callback.body
    assert callback.body["status"] == "succeeded"

    # THEN the result is in the bucket, and GET answers a presigned URL of that copy
    assert deployment.keys("results/") == [f"results/{job_id}.png"]
    view = deployment.api("GET", f"/v1/swaps/{job_id}", resource="/v1/swaps/{id}")
    assert view.status == 200
    assert view.body["status"] == "succeeded"
    assert view.body["result_url"] and fake_aifaceswap.base_url not in view.body["result_url"]
    image = requests.get(view.body["result_url"], timeout=5)
    assert image.status_code == 200 and sniff(image.content) == "png"


def test_multipart_swap_stores_uploads_and_hands_provider_urls(deployment, fake_aifaceswap, face_bytes):
    files = {
        "source_image": ("source.png", face_bytes["astronaut.png"], "image/png"),
        "face_image": ("face.jpg", face_bytes["grace_hopper.jpg"], "image/jpeg"),
    }
    answer = deployment.api("POST", "/v1/swaps", files=files, data={"provider": "aifaceswap"})
    assert answer.status == 202, answer.body
    uploads = sorted(deployment.keys("uploads/"))
    assert len(uploads) == 2 and {key.rsplit(".", 1)[1] for key in uploads} == {"png", "jpg"}
    sent = fake_aifaceswap.requests[-1].json
    assert all("uploads/" in sent[name] for name in ("source_image", "face_image"))
    # the provider can fetch what it was given
    assert sniff(requests.get(sent["source_image"], timeout=5).content) == "png"
    (callback,) = deployment.deliver_callbacks(1)
    assert callback.body["status"] == "succeeded"


def test_ttapi_swap_life(deployment, fake_ttapi):
    source = f"{fake_ttapi.base_url}/cdn/a.png"
    answer = deployment.api(
        "POST", "/v1/swaps", json_body={"source_image": source, "face_image": source, "provider": "ttapi"}
    )
    assert answer.status == 202, answer.body
    sent = fake_ttapi.requests[-1]
    assert sent.path == "/insightFace/v1/swap"
    assert set(sent.json) == {"targetImage", "swapImage", "hookUrl"}
    (callback,) = deployment.deliver_callbacks(1)
    assert callback.body["status"] == "succeeded"
    job = deployment.job(answer.body["id"])
    assert job["result_key"] == f"results/{answer.body['id']}.png"
    assert job["provider_job_id"].startswith("SWAP-FACE-")
