"""Bad input gets a clear 4xx naming the field; provider errors map to stable codes; never a 5xx."""

from __future__ import annotations

import pytest
from support import OTHER_API_KEY  # the deployment's second API key
from swapgate.images import sniff


def _swap(deployment, body=None, **kwargs):
    return deployment.api("POST", "/v1/swaps", json_body=body, **kwargs)


def _urls(fake):
    return {"source_image": f"{fake.base_url}/cdn/a.png", "face_image": f"{fake.base_url}/cdn/b.png"}


@pytest.mark.parametrize(
    ("headers", "key"),
    [({}, None), ({"x-api-key": "wrong"}, None), ({"Authorization": "Bearer client-key-1"}, None)],
)
def test_v1_needs_a_valid_x_api_key(deployment, fake_aifaceswap, headers, key):
    answer = _swap(deployment, _urls(fake_aifaceswap), headers=headers, key=key)
    if headers.get("Authorization"):  # any accepted header works on every route
        assert answer.status == 202
    else:
        assert answer.status == 401
        assert answer.body["error"]["code"] == "unauthorized"
        assert fake_aifaceswap.requests == []


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"face_image": "https://example.com/b.png"}, "source_image", 400),
        ({"source_image": "https://example.com/a.png"}, "face_image", 400),
        ({"source_image": "x", "face_image": "y", "colour": "red"}, "colour", 400),
        (
            {"source_image": "ftp://example.com/a.png", "face_image": "https://example.com/b.png"},
            "source_image",
            400,
        ),
        (
            {"source_image": "https://e.com/a.png", "face_image": "https://e.com/b.png", "provider": "nope"},
            "provider",
            400,
        ),
        ({"source_image": "upload://missing1", "face_image": "https://e.com/b.png"}, "source_image", 415),
        ({"source_image": 5, "face_image": "https://e.com/b.png"}, "source_image", 400),
    ],
)
def test_bad_fields_are_named(deployment, body, field, status):
    answer = _swap(deployment, body)
    assert answer.status == status, answer.body
    assert answer.body["error"]["field"] == field
    assert field in answer.body["error"]["message"]


def test_body_that_is_not_json(deployment):
    answer = deployment.api(
        "POST", "/v1/swaps", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status == 400
    assert answer.body["error"]["field"] == "body"


def test_private_and_loopback_urls_are_refused_outside_the_local_stack(deployment, monkeypatch):
    monkeypatch.delenv("SWAPGATE_ALLOW_PRIVATE_URLS")
    for url in (
        "https://127.0.0.1/a.png",
        "https://10.0.0.8/a.png",
        "https://169.254.169.254/latest",
        "https://localhost/a.png",
        "http://example.com/a.png",
    ):
        answer = _swap(deployment, {"source_image": url, "face_image": "https://example.com/b.png"})
        assert answer.status == 400, url
        assert answer.body["error"]["field"] == "source_image"


def test_webhook_must_be_public_https(deployment, monkeypatch, fake_aifaceswap):
    monkeypatch.delenv("SWAPGATE_ALLOW_PRIVATE_URLS")
    answer = _swap(
        deployment,
        {"source_image": "upload://abc", "face_image": "upload://def", "webhook": "https://192.168.1.1/hook"},
    )
    assert answer.status == 400 and answer.body["error"]["field"] == "webhook"
    assert fake_aifaceswap.requests == []


def test_file_that_is_not_an_image_by_magic_bytes(deployment, face_bytes):
    files = {
        "source_image": ("looks.png", b"GIF89a not what we take", "image/png"),
        "face_image": ("face.jpg", face_bytes["grace_hopper.jpg"], "image/jpeg"),
    }
    answer = deployment.api("POST", "/v1/swaps", files=files)
    assert answer.status == 415
    assert answer.body["error"] == {
        "code": "invalid_image",
        "message": "source_image is not a JPEG, PNG or WebP image",
        "field": "source_image",
    }
    assert deployment.keys("uploads/") == []


def test_file_over_the_size_limit_is_413(deployment, monkeypatch, face_bytes):
    monkeypatch.setenv("SWAPGATE_MAX_IMAGE_BYTES", "1000")
    files = {
        "source_image": ("a.png", face_bytes["astronaut.png"], "image/png"),
        "face_image": ("b.jpg", face_bytes["grace_hopper.jpg"], "image/jpeg"),
    }
    answer = deployment.api("POST", "/v1/swaps", files=files)
    assert answer.status == 413 and answer.body["error"]["field"] == "source_image"


@pytest.mark.parametrize(
    ("injection", "kwargs", "status", "code"),
    [
        ("bad_key", {}, 502, "provider_auth_failed"),
        ("blocked", {}, 502, "provider_account_blocked"),
        ("quota", {}, 402, "provider_quota_exhausted"),
        ("rate_limited", {"retry_after": 7}, 429, "provider_rate_limited"),
        ("server_error", {}, 503, "provider_busy"),
        ("gateway_timeout", {}, 503, "provider_busy"),
        ("invalid_input", {}, 400, "provider_invalid_input"),
        ("envelope_error", {}, None, None),
        ("malformed_json", {}, 502, "provider_bad_response"),
    ],
)
def test_provider_errors_fail_the_job_with_a_stable_code(
    deployment, fake_aifaceswap, injection, kwargs, status, code
):
    fake_aifaceswap.inject(injection, **kwargs)
    answer = _swap(deployment, _urls(fake_aifaceswap))
    assert 400 <= answer.status < 600 and answer.status != 500
    if status is not None:
        assert (answer.status, answer.body["error"]["code"]) == (status, code)
    job = deployment.job(answer.body["error"]["job_id"])
    assert job["status"] == "failed"  # never left queued
    assert job["error_code"] == answer.body["error"]["code"]
    if injection == "rate_limited":
        assert answer.headers["Retry-After"] == "7"


def test_provider_not_configured_names_the_variable(deployment, monkeypatch, fake_ttapi):
    monkeypatch.delenv("TTAPI_API_KEY")
    answer = _swap(deployment, {**_urls(fake_ttapi), "provider": "ttapi"})
    assert answer.status == 503
    assert answer.body["error"]["code"] == "provider_not_configured"
    assert "TTAPI_API_KEY" in answer.body["error"]["message"]


def test_operation_the_provider_cannot_do_names_those_that_can(deployment, fake_ttapi):
    body = {
        "source_image": f"{fake_ttapi.base_url}/a.png",
        "face_images": [f"{fake_ttapi.base_url}/b.png"],
        "indexes": [0],
        "provider": "ttapi",
    }
    answer = deployment.api("POST", "/v1/swaps/multi", json_body=body)
    assert answer.status == 422
    assert answer.body["error"]["code"] == "operation_not_supported"
    assert "aifaceswap" in answer.body["error"]["message"] and "local" in answer.body["error"]["message"]


@pytest.mark.parametrize(("indexes", "faces", "status"), [([0, 1], 1, 400), ([-1], 1, 422), ([0, 0], 2, 400)])
def test_multi_swap_indexes_are_checked(deployment, fake_aifaceswap, indexes, faces, status):
    body = {
        "source_image": f"{fake_aifaceswap.base_url}/a.png",
        "face_images": [f"{fake_aifaceswap.base_url}/b.png"] * faces,
        "indexes": indexes,
    }
    answer = deployment.api("POST", "/v1/swaps/multi", json_body=body)
    assert answer.status == status and answer.body["error"]["field"] == "indexes"
    assert fake_aifaceswap.requests == []


def test_multi_swap_by_multipart(deployment, fake_aifaceswap, face_bytes):
    files = [
        ("source_image", ("two.jpg", face_bytes["two_faces.jpg"], "image/jpeg")),
        ("face_images", ("a.png", face_bytes["astronaut.png"], "image/png")),
        ("face_images", ("b.jpg", face_bytes["grace_hopper.jpg"], "image/jpeg")),
    ]
    answer = deployment.api("POST", "/v1/swaps/multi", files=files, data={"indexes": ["1", "0"]})
    assert answer.status == 202, answer.body
    sent = fake_aifaceswap.requests[-1]
    assert sent.path == "/api/aifaceswap/v1/multi_faceswap"
    assert sent.json["index"] == [1, 0] and len(sent.json["face_image"]) == 2
    (callback,) = deployment.deliver_callbacks(1)
    assert callback.body["status"] == "succeeded"


def test_faces(deployment, fake_aifaceswap, face_bytes):
    answer = deployment.api(
        "POST", "/v1/faces", files={"image": ("two.jpg", face_bytes["two_faces.jpg"], "image/jpeg")}
    )
    assert answer.status == 200, answer.body
    assert answer.body == {
        "faces": [[146, 256, 240, 381], [297, 521, 371, 621], [441, 208, 529, 332]],
        "points": 2,
    }
    assert fake_aifaceswap.requests[-1].path == "/api/aifaceswap/v1/extract_face"


def test_jobs_of_another_key_are_not_visible(deployment, fake_aifaceswap):
    job_id = _swap(deployment, _urls(fake_aifaceswap)).body["id"]
    mine = deployment.api("GET", f"/v1/swaps/{job_id}", resource="/v1/swaps/{id}")
    theirs = deployment.api("GET", f"/v1/swaps/{job_id}", resource="/v1/swaps/{id}", key=OTHER_API_KEY)
    missing = deployment.api("GET", "/v1/swaps/job_nope", resource="/v1/swaps/{id}")
    assert mine.status == 200 and theirs.status == 404 and missing.status == 404
    assert theirs.body == missing.body | {"error": {**missing.body["error"], "message": f"no job {job_id!r}"}}


def test_idempotency_key_returns_the_first_job_without_a_second_provider_call(deployment, fake_aifaceswap):
    headers = {"Idempotency-Key": "order-17"}
    first = _swap(deployment, _urls(fake_aifaceswap), headers=headers)
    second = _swap(deployment, _urls(fake_aifaceswap), headers=headers)
    assert first.status == second.status == 202
    assert first.body["id"] == second.body["id"]
    assert len(fake_aifaceswap.requests) == 1
    other = _swap(deployment, {**_urls(fake_aifaceswap), "webhook": "https://example.com/h"}, headers=headers)
    assert other.status == 422 and other.body["error"]["code"] == "idempotency_key_reused"
    assert len(fake_aifaceswap.requests) == 1
    # another client's same key is another request
    theirs = _swap(deployment, _urls(fake_aifaceswap), headers=headers, key=OTHER_API_KEY)
    assert theirs.status == 202 and theirs.body["id"] != first.body["id"]


def test_presigned_upload_then_swap_by_reference(deployment, fake_aifaceswap, face_bytes):
    import requests

    ticket = deployment.api("POST", "/v1/uploads").body
    assert ticket["reference"].startswith("upload://")
    posted = requests.post(
        ticket["url"],
        data={**ticket["fields"], "Content-Type": "image/png"},
        files={"file": ("a.png", face_bytes["astronaut.png"])},
        timeout=5,
    )
    assert posted.status_code in (200, 204)
    answer = _swap(
        deployment, {"source_image": ticket["reference"], "face_image": _urls(fake_aifaceswap)["face_image"]}
    )
    assert answer.status == 202, answer.body
    provider_saw = fake_aifaceswap.requests[-1].json["source_image"]
    assert sniff(requests.get(provider_saw, timeout=5).content) == "png"


def test_openapi_and_swagger_are_public(deployment):
    spec = deployment.api("GET", "/v1/openapi.json", key=None)
    assert spec.status == 200
    assert {"/v1/swaps", "/v1/swaps/multi", "/v1/faces", "/v1/swaps/{id}", "/v1/uploads"} <= set(
        spec.body["paths"]
    )
    assert "/api/aifaceswap/v1/faceswap" in spec.body["paths"]
    page = deployment.api("GET", "/v1/docs", key=None)
    assert page.status == 200 and "swagger" in str(page.body).lower()


def test_rate_limit_per_key(deployment, monkeypatch, fake_aifaceswap):
    monkeypatch.setenv("SWAPGATE_RATE_LIMIT_PER_MINUTE", "2")
    statuses = [deployment.api("GET", "/v1/swaps/job_x", resource="/v1/swaps/{id}").status for _ in range(3)]
    assert statuses[:2] == [404, 404] and statuses[2] == 429
    limited = deployment.api("GET", "/v1/swaps/job_x", resource="/v1/swaps/{id}")
    assert int(limited.headers["Retry-After"]) >= 1
    assert (
        deployment.api("GET", "/v1/swaps/job_x", resource="/v1/swaps/{id}", key=OTHER_API_KEY).status == 404
    )


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("[]", "application/json", 400, "the body must be a JSON object or multipart/form-data"),
        ("123", "application/json", 400, "the body must be a JSON object or multipart/form-data"),
        ("null", "application/json", 400, "a body is required: a JSON object or multipart/form-data"),
        ("hello", "text/plain", 415, "the body must be a JSON object or multipart/form-data"),
        (
            "hello",
            "multipart/form-data",
            400,
            "a multipart/form-data body needs a boundary in its Content-Type",
        ),
    ],
)
def test_bodies_that_are_not_an_object_are_4xx_naming_the_body(
    deployment, body, content_type, status, message
):
    answer = deployment.api("POST", "/v1/swaps", data=body, headers={"Content-Type": content_type})
    assert answer.status == status
    assert answer.body["error"]["field"] == "body"
    assert answer.body["error"]["message"] == message
