"""The aifaceswap fake over real sockets: the API page's examples, request checks, webhooks, CDN."""

from __future__ import annotations

import re

import pytest
import requests

KEY = "test-key"  # what the fixtures' fakes accept
TIMEOUT = 5  # every request here has a timeout
AUTH = {"Authorization": f"Bearer {KEY}"}
# the URLs of the API page's examples
SRC = "https://temp.aifaceswap.io/aifaceswap/static_img/8a1bce5ea303791589165a5f607e7399.webp"
FACE = "https://temp.aifaceswap.io/aifaceswap/static_img/1f153b1ab8d134f1eff57eb527467137.webp"
GROUP = "https://art-global.yimeta.ai/face-swap/d3a6f7febe4f6490f26f3cf901b72126.webp"


def post(fake, op, **kwargs):
    headers = kwargs.pop("headers", AUTH)
    return requests.post(fake.url(f"/api/aifaceswap/v1/{op}"), headers=headers, timeout=TIMEOUT, **kwargs)


def assert_task(resp, points):
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"code", "data", "message"}
    assert body["code"] == 200 and body["message"] == "OK"
    assert set(body["data"]) == {"task_id", "points"}
    assert body["data"]["points"] == points
    assert re.fullmatch(r"[0-9a-f]{32}", body["data"]["task_id"])
    return body["data"]["task_id"]


# --- the API page's examples ---------------------------------------------------------------------


def test_faceswap_by_urls_then_webhook_then_result(fake_aifaceswap, webhook_receiver, png_size):
    resp = post(
        fake_aifaceswap,
        "faceswap",
        json={"source_image": SRC, "face_image": FACE, "webhook": webhook_receiver.url},
    )
    task_id = assert_task(resp, 2)

    sent = fake_aifaceswap.requests[-1]
    assert sent.headers["Authorization"] == f"Bearer {KEY}" and sent.kind == "json"
    job = fake_aifaceswap.jobs[task_id]
    assert job.kind == "faceswap" and job.webhook == webhook_receiver.url
    assert job.inputs == {"source_image": SRC, "face_image": FACE}

    (hook,) = webhook_receiver.wait_for(1)
    assert set(hook.json) == {"success", "type", "task_id", "result_image"}
    assert hook.json["success"] == 1 and hook.json["type"] == 1 and hook.json["task_id"] == task_id
    assert hook.headers["Content-Type"] == "application/json"
    (delivery,) = fake_aifaceswap.wait_for_webhooks(1)
    assert delivery == (webhook_receiver.url, hook.json, 200)
    assert fake_aifaceswap.jobs[task_id].state == "succeeded"

    result = hook.json["result_image"]
    assert result.startswith(fake_aifaceswap.base_url) and "?ex=" in result and "&hm=" in result
    image = requests.get(result, timeout=TIMEOUT)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert png_size(image.content) == (64, 64)
    assert image.content == fake_aifaceswap.result_image(task_id)


def test_faceswap_by_files(fake_aifaceswap, webhook_receiver, jpeg_bytes, webp_bytes):
    files = {"source_image": ("source.jpg", jpeg_bytes), "face_image": ("face.webp", webp_bytes)}
    resp = post(fake_aifaceswap, "faceswap", data={"webhook": webhook_receiver.url}, files=files)
    task_id = assert_task(resp, 2)
    sent = fake_aifaceswap.requests[-1]
    assert sent.kind == "multipart" and sent.form == {"webhook": [webhook_receiver.url]}
    assert [(f.field, f.filename, f.data) for f in sent.files] == [
        ("source_image", "source.jpg", jpeg_bytes),
        ("face_image", "face.webp", webp_bytes),
    ]
    assert webhook_receiver.wait_for(1)[0].json["task_id"] == task_id


def test_faceswap_without_webhook_finishes_silently(fake_aifaceswap, png_bytes):
    resp = post(fake_aifaceswap, "faceswap", files={"source_image": png_bytes, "face_image": png_bytes})
    task_id = assert_task(resp, 2)
    assert fake_aifaceswap.jobs[task_id].webhook is None
    with pytest.raises(TimeoutError):
        fake_aifaceswap.wait_for_webhooks(1, timeout=0.3)
    assert fake_aifaceswap.jobs[task_id].state == "succeeded"


def test_extract_face_by_url_and_by_file(fake_aifaceswap, jpeg_bytes):
    expected = {
        "code": 200,
        "data": {"faces": [[146, 256, 240, 381], [297, 521, 371, 621], [441, 208, 529, 332]], "points": 2},
        "message": "OK",
    }
    by_url = post(fake_aifaceswap, "extract_face", json={"img": GROUP})
    by_file = post(fake_aifaceswap, "extract_face", files={"img": jpeg_bytes})
    assert by_url.status_code == by_file.status_code == 200
    assert by_url.json() == by_file.json() == expected
    assert fake_aifaceswap.jobs == {}  # answered at once, no job


def test_extract_face_boxes_are_configurable():
    from swapgate_dev.fakes import FakeAifaceswap

    with FakeAifaceswap(faces=[[1, 2, 3, 4]]) as fake:
        resp = post(fake, "extract_face", json={"img": GROUP})
        assert resp.json()["data"]["faces"] == [[1, 2, 3, 4]]
        fake.faces = []
        assert post(fake, "extract_face", json={"img": GROUP}).json()["data"]["faces"] == []


def test_multi_faceswap_by_urls(fake_aifaceswap, webhook_receiver):
    headers = {"accept": "application/json", **AUTH}
    data = {
        "source_image": GROUP,
        "face_image": [SRC, FACE],
        "index": [0, 2],
        "webhook": webhook_receiver.url,
    }
    resp = post(fake_aifaceswap, "multi_faceswap", headers=headers, json=data)
    task_id = assert_task(resp, 5)
    assert list(resp.json()["data"]) == ["points", "task_id"]  # the page's order
    assert fake_aifaceswap.jobs[task_id].inputs["index"] == [0, 2]
    (hook,) = webhook_receiver.wait_for(1)
    assert hook.json["type"] == 2 and hook.json["success"] == 1 and hook.json["task_id"] == task_id


def test_multi_faceswap_by_files(fake_aifaceswap, webhook_receiver, jpeg_bytes, png_bytes, webp_bytes):
    files = [
        ("source_image", ("source.jpg", jpeg_bytes)),
        ("face_image", ("face1.webp", webp_bytes)),
        ("face_image", ("face2.png", png_bytes)),
    ]
    data = {"webhook": webhook_receiver.url, "index": [0, 2]}
    resp = post(fake_aifaceswap, "multi_faceswap", data=data, files=files)
    task_id = assert_task(resp, 5)
    sent = fake_aifaceswap.requests[-1]
    assert sent.form == {"webhook": [webhook_receiver.url], "index": ["0", "2"]}
    assert [f.field for f in sent.files] == ["source_image", "face_image", "face_image"]
    job = fake_aifaceswap.jobs[task_id]
    assert job.inputs["index"] == [0, 2] and [f.filename for f in job.inputs["face_image"]] == [
        "face1.webp",
        "face2.png",
    ]
    assert webhook_receiver.wait_for(1)[0].json["type"] == 2


# --- request checks: each answers 4xx in the envelope and creates no job ---------------------------

NOT_IMAGE = b"GIF89a\x01\x00\x01\x00"


@pytest.mark.parametrize(
    ("op", "kwargs", "status"),
    [
        ("faceswap", {"headers": {}, "json": {"source_image": SRC, "face_image": FACE}}, 401),
        ("faceswap", {"headers": {"Authorization": "Bearer nope"}, "json": {"source_image": SRC}}, 401),
        (
            "faceswap",
            {"headers": {"Authorization": KEY}, "json": {"source_image": SRC, "face_image": FACE}},
            401,
        ),
        (
            "faceswap",
            {"headers": {"TT-API-KEY": KEY}, "json": {"source_image": SRC, "face_image": FACE}},
            401,
        ),
        ("faceswap", {"json": {"target_image": SRC, "face_image": FACE}}, 400),
        ("faceswap", {"json": {"source_image": SRC, "swap_image": FACE}}, 400),
        ("faceswap", {"json": {"source_image": SRC}}, 400),
        ("faceswap", {"json": {"source_image": SRC, "face_image": FACE, "callback": "http://x.io/h"}}, 400),
        ("faceswap", {"json": {"source_image": "not a url", "face_image": FACE}}, 400),
        ("faceswap", {"json": {"source_image": "ftp://x.io/a.jpg", "face_image": FACE}}, 400),
        ("faceswap", {"json": {"source_image": [SRC], "face_image": FACE}}, 400),
        ("faceswap", {"json": {"source_image": SRC, "face_image": FACE, "webhook": "http:xxxx.xx/cb"}}, 400),
        ("faceswap", {"json": {"source_image": SRC, "face_image": FACE, "webhook": None}}, 400),
        ("faceswap", {"json": [SRC, FACE]}, 400),
        ("faceswap", {"data": b"{not json", "headers": {**AUTH, "Content-Type": "application/json"}}, 400),
        ("faceswap", {"data": {"source_image": SRC, "face_image": FACE}}, 400),  # urlencoded
        ("faceswap", {"data": b"", "headers": AUTH}, 400),
        ("faceswap", {"files": {"source_image": NOT_IMAGE, "face_image": NOT_IMAGE}}, 400),
        (
            "faceswap",
            {"files": [("source_image", b"\xff\xd8\xff1"), ("source_image", b"\xff\xd8\xff2")]},
            400,
        ),
        ("faceswap", {"files": {"source": b"\xff\xd8\xff", "face_image": b"\xff\xd8\xff"}}, 400),
        ("extract_face", {"json": {"image": GROUP}}, 400),
        ("extract_face", {"json": {"img": GROUP, "webhook": "http://x.io/h"}}, 400),
        ("extract_face", {"files": {"img": NOT_IMAGE}}, 400),
        ("extract_face", {"headers": {}, "json": {"img": GROUP}}, 401),
        ("multi_faceswap", {"json": {"source_image": GROUP, "face_image": [SRC, FACE], "index": [0]}}, 400),
        ("multi_faceswap", {"json": {"source_image": GROUP, "face_image": [SRC], "index": [5]}}, 400),
        (
            "multi_faceswap",
            {"json": {"source_image": GROUP, "face_image": [SRC, FACE], "index": [1, 1]}},
            400,
        ),
        ("multi_faceswap", {"json": {"source_image": GROUP, "face_image": SRC, "index": [0]}}, 400),
        ("multi_faceswap", {"json": {"source_image": GROUP, "face_image": [SRC], "index": ["0"]}}, 400),
        ("multi_faceswap", {"json": {"source_image": GROUP, "face_image": [], "index": []}}, 400),
        ("multi_faceswap", {"json": {"source_image": GROUP, "face_image": [SRC]}}, 400),
        ("multi_faceswap", {"json": {"source_image": GROUP, "face_images": [SRC], "index": [0]}}, 400),
        (
            "multi_faceswap",
            {
                "files": [("source_image", b"\xff\xd8\xff"), ("face_image", b"\xff\xd8\xff")],
                "data": {"index": "[0]"},
            },
            400,
        ),
        (
            "multi_faceswap",
            {
                "files": [("source_image", b"\xff\xd8\xff"), ("face_image", b"\xff\xd8\xff")],
                "data": {"index[]": 0},
            },
            400,
        ),
        (
            "multi_faceswap",
            {"files": [("source_image", b"\xff\xd8\xff"), ("face_image", NOT_IMAGE)], "data": {"index": [0]}},
            400,
        ),
        (
            "multi_faceswap",
            {
                "files": [("source_image", b"\xff\xd8\xff"), ("face_image", b"\xff\xd8\xff")],
                "data": {"index": [0, 1]},
            },
            400,
        ),
    ],
)
def test_malformed_requests_answer_4xx(fake_aifaceswap, op, kwargs, status):
    resp = post(fake_aifaceswap, op, **kwargs)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == status and body["data"] is None and body["message"]
    assert fake_aifaceswap.jobs == {}


def test_wrong_method_and_unknown_path(fake_aifaceswap):
    get = requests.get(fake_aifaceswap.url("/api/aifaceswap/v1/faceswap"), headers=AUTH, timeout=TIMEOUT)
    assert get.status_code == 405 and get.json()["code"] == 405
    other = post(fake_aifaceswap, "status", json={"task_id": "x"})  # no status endpoint exists
    assert other.status_code == 404 and other.json()["code"] == 404


def test_api_key_is_not_in_reprs(fake_aifaceswap):
    fake_aifaceswap.api_key = "sk-very-secret"
    post(fake_aifaceswap, "faceswap", headers={"Authorization": "Bearer sk-very-secret"}, json={})
    text = repr(fake_aifaceswap.requests) + repr(fake_aifaceswap)
    assert "sk-very-secret" not in text and "<redacted>" in text
