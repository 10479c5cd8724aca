"""The two provider API pages' example client code, pointed at Swapgate's compatibility routes, gets
the documented answers. Only the base URL, the key, the image URLs and the webhook change: the
example URLs are not reachable from here, and ``http:xxxx.xx`` is not a URL."""

from __future__ import annotations

import requests

KEY = "client-key-1"


def _send(deployment, method, path, **kwargs):
    return deployment.api(method, path, key=None, **kwargs)


def test_aifaceswap_faceswap_examples(deployment, fake_aifaceswap, webhook_receiver, face_bytes):
    headers = {"Authorization": f"Bearer {KEY}"}
    # Method1: by image links to generate
    data1 = {
        "source_image": f"{fake_aifaceswap.base_url}/static_img/8a1bce5ea303791589165a5f607e7399.png",
        "face_image": f"{fake_aifaceswap.base_url}/static_img/1f153b1ab8d134f1eff57eb527467137.png",
        "webhook": webhook_receiver.url,
    }
    response = _send(deployment, "POST", "/api/aifaceswap/v1/faceswap", headers=headers, json_body=data1)
    assert response.status == 200
    assert response.body["code"] == 200 and response.body["message"] == "OK"
    assert set(response.body["data"]) == {"task_id", "points"} and response.body["data"]["points"] == 2
    # Method2: by local files to generate
    files = {"source_image": face_bytes["astronaut.png"], "face_image": face_bytes["grace_hopper.jpg"]}
    data2 = {"webhook": webhook_receiver.url}
    response = _send(
        deployment, "POST", "/api/aifaceswap/v1/faceswap", headers=headers, data=data2, files=files
    )
    assert response.status == 200, response.body
    assert response.body["data"]["task_id"].startswith("job_")


def test_aifaceswap_extract_face_examples(deployment, fake_aifaceswap, face_bytes):
    headers = {"Authorization": f"Bearer {KEY}"}
    data = {"img": f"{fake_aifaceswap.base_url}/face-swap/d3a6f7febe4f6490f26f3cf901b72126.png"}
    response = _send(deployment, "POST", "/api/aifaceswap/v1/extract_face", headers=headers, json_body=data)
    documented = {
        "code": 200,
        "data": {"faces": [[146, 256, 240, 381], [297, 521, 371, 621], [441, 208, 529, 332]], "points": 2},
        "message": "OK",
    }
    assert response.status == 200 and response.body == documented
    files = {"img": face_bytes["two_faces.jpg"]}
    response = _send(deployment, "POST", "/api/aifaceswap/v1/extract_face", headers=headers, files=files)
    assert response.status == 200 and response.body == documented


def test_aifaceswap_multi_faceswap_examples(deployment, fake_aifaceswap, webhook_receiver, face_bytes):
    headers = {"accept": "application/json", "Authorization": f"Bearer {KEY}"}
    data1 = {
        "source_image": f"{fake_aifaceswap.base_url}/face-swap/d3a6f7febe4f6490f26f3cf901b72126.png",
        "face_image": [
            f"{fake_aifaceswap.base_url}/static_img/8a.png",
            f"{fake_aifaceswap.base_url}/static_img/1f.png",
        ],
        "index": [0, 2],
        "webhook": webhook_receiver.url,
    }
    response = _send(
        deployment, "POST", "/api/aifaceswap/v1/multi_faceswap", headers=headers, json_body=data1
    )
    assert response.status == 200, response.body
    assert response.body["code"] == 200 and response.body["data"]["points"] == 5
    files = [
        ("source_image", face_bytes["two_faces.jpg"]),
        ("face_image", face_bytes["astronaut.png"]),
        ("face_image", face_bytes["grace_hopper.jpg"]),
    ]
    data2 = {"webhook": webhook_receiver.url, "index": [0, 2]}
    response = _send(
        deployment, "POST", "/api/aifaceswap/v1/multi_faceswap", headers=headers, data=data2, files=files
    )
    assert response.status == 200, response.body
    assert fake_aifaceswap.requests[-1].json["index"] == [0, 2]


def test_aifaceswap_errors_come_in_its_envelope(deployment, fake_aifaceswap):
    response = _send(
        deployment,
        "POST",
        "/api/aifaceswap/v1/faceswap",
        headers={"Authorization": "Bearer nope"},
        json_body={},
    )
    assert response.status == 401 and response.body["code"] == 401 and response.body["data"] is None
    response = _send(
        deployment,
        "POST",
        "/api/aifaceswap/v1/faceswap",
        headers={"Authorization": f"Bearer {KEY}"},
        json_body={"face_image": "x"},
    )
    assert response.status == 400 and "source_image" in response.body["message"]


def test_ttapi_swap_and_fetch_examples(deployment, fake_ttapi, webhook_receiver):
    headers = {"TT-API-KEY": KEY}
    data = {
        "targetImage": f"{fake_ttapi.base_url}/2024-04-23/tar_image.png",
        "swapImage": f"{fake_ttapi.base_url}/2024-04-23/face_image.png",
        "hookUrl": webhook_receiver.url,
    }
    response = _send(deployment, "POST", "/insightFace/v1/swap", headers=headers, json_body=data)
    assert response.status == 200, response.body
    assert response.body["status"] == "SUCCESS" and response.body["message"] == ""
    job_id = response.body["data"]["jobId"]

    fetched = _send(deployment, "POST", "/insightFace/v1/fetch", headers=headers, json_body={"jobId": job_id})
    assert fetched.status == 200 and fetched.body["status"] in ("PENDING_QUEUE", "ON_QUEUE")
    assert fetched.body["jobId"] == fetched.body["data"]["jobId"] == job_id

    deployment.deliver_callbacks(1)  # the provider behind finishes the job
    fetched = _send(
        deployment,
        "GET",
        f"/insightFace/v1/fetch?jobId={job_id}",
        resource="/insightFace/v1/fetch",
        headers=headers,
    )
    assert fetched.status == 200
    assert fetched.body["status"] == "SUCCESS"
    cdn = fetched.body["data"]["cdnImage"]
    assert cdn and fake_ttapi.base_url not in cdn  # this deployment's copy, not the provider's URL
    assert requests.get(cdn, timeout=5).status_code == 200
    assert fetched.body["data"]["quota"] == 2


def test_ttapi_errors_come_in_its_shape(deployment):
    response = _send(
        deployment,
        "POST",
        "/insightFace/v1/swap",
        headers={"TT-API-KEY": KEY},
        json_body={"targetImage": "x"},
    )
    assert response.status == 400
    assert response.body["status"] == "FAILED" and "swapImage" in response.body["message"]
