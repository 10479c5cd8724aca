"""The aifaceswap adapter against the loopback fake: request shapes as the API page shows them, the
envelope, every error row, webhooks, and what it refuses."""

from __future__ import annotations

import json

import pytest
from support import PROVIDER_KEY as KEY
from support.provider_errors import HTTP_ERROR_ROWS
from swapgate import errors
from swapgate.providers.aifaceswap import AifaceswapProvider
from swapgate.providers.base import ImageInput, Operation, ProviderState
from swapgate_dev.fakes import FakeAifaceswap
from swapgate_dev.fakes.aifaceswap import DEFAULT_FACES, EXTRACT_FACE, FACESWAP, MULTI_FACESWAP

SOURCE_URL = "https://temp.aifaceswap.io/aifaceswap/static_img/source.webp"
FACE_URL = "https://temp.aifaceswap.io/aifaceswap/static_img/face.webp"
FACE2_URL = "https://temp.aifaceswap.io/aifaceswap/static_img/face2.webp"
HOOK = "https://gateway.example/callbacks/aifaceswap/job-1?token=abc"


def only_request(fake, path):
    recorded = fake.requests_to(path)
    assert len(recorded) == 1, recorded
    return recorded[0]


def assert_auth(req):
    assert req.headers["Authorization"] == f"Bearer {KEY}"
    assert "TT-API-KEY" not in req.headers


# --- request shapes -------------------------------------------------------------------------------


def test_swap_with_urls_sends_the_documented_json(fake_aifaceswap, aifaceswap):
    job = aifaceswap.swap(ImageInput.from_url(SOURCE_URL), ImageInput.from_url(FACE_URL), HOOK)
    req = only_request(fake_aifaceswap, FACESWAP)
    assert req.method == "POST"
    assert_auth(req)
    assert req.kind == "json"
    assert req.json == {"source_image": SOURCE_URL, "face_image": FACE_URL, "webhook": HOOK}
    assert req.status == 200
    assert job.provider == "aifaceswap"
    assert job.job_id in fake_aifaceswap.jobs
    assert job.state is ProviderState.RUNNING
    assert job.cost == 2
    assert job.result_url is None and job.error_code is None
    # our "source" is the picture whose face is replaced: aifaceswap's source_image
    assert fake_aifaceswap.jobs[job.job_id].inputs == {"source_image": SOURCE_URL, "face_image": FACE_URL}


def test_swap_without_webhook_sends_no_webhook_field(fake_aifaceswap, aifaceswap):
    aifaceswap.swap(ImageInput.from_url(SOURCE_URL), ImageInput.from_url(FACE_URL))
    assert only_request(fake_aifaceswap, FACESWAP).json == {
        "source_image": SOURCE_URL,
        "face_image": FACE_URL,
    }


def test_swap_with_bytes_sends_multipart_files(fake_aifaceswap, aifaceswap, jpeg_bytes, png_bytes):
    source = ImageInput.from_bytes(jpeg_bytes, "source.jpg", "image/jpeg")
    face = ImageInput.from_bytes(png_bytes, "face.png", "image/png")
    job = aifaceswap.swap(source, face, HOOK)
    req = only_request(fake_aifaceswap, FACESWAP)
    assert_auth(req)
    assert req.kind == "multipart"
    assert req.json is None
    assert req.form == {"webhook": [HOOK]}
    assert [(p.field, p.filename, p.content_type, p.data) for p in req.files] == [
        ("source_image", "source.jpg", "image/jpeg", jpeg_bytes),
        ("face_image", "face.png", "image/png", png_bytes),
    ]
    assert job.state is ProviderState.RUNNING and job.cost == 2


def test_swap_with_bytes_and_a_url_sends_the_url_as_a_text_part(fake_aifaceswap, aifaceswap, jpeg_bytes):
    aifaceswap.swap(ImageInput.from_bytes(jpeg_bytes, "s.jpg", "image/jpeg"), ImageInput.from_url(FACE_URL))
    req = only_request(fake_aifaceswap, FACESWAP)
    assert req.kind == "multipart"
    assert req.form == {"face_image": [FACE_URL]}
    assert [(p.field, p.data) for p in req.files] == [("source_image", jpeg_bytes)]


def test_multi_swap_with_urls_sends_lists_in_json(fake_aifaceswap, aifaceswap):
    faces = [ImageInput.from_url(FACE_URL), ImageInput.from_url(FACE2_URL)]
    job = aifaceswap.multi_swap(ImageInput.from_url(SOURCE_URL), faces, [0, 2], HOOK)
    req = only_request(fake_aifaceswap, MULTI_FACESWAP)
    assert_auth(req)
    assert req.kind == "json"
    assert req.json == {
        "source_image": SOURCE_URL,
        "face_image": [FACE_URL, FACE2_URL],
        "index": [0, 2],
        "webhook": HOOK,
    }
    assert job.state is ProviderState.RUNNING
    assert job.cost == 5
    assert fake_aifaceswap.jobs[job.job_id].inputs["index"] == [0, 2]


def test_multi_swap_with_bytes_sends_repeated_parts_and_index_fields(
    fake_aifaceswap, aifaceswap, jpeg_bytes, png_bytes
):
    source = ImageInput.from_bytes(jpeg_bytes, "group.jpg", "image/jpeg")
    faces = [
        ImageInput.from_bytes(png_bytes, "a.png", "image/png"),
        ImageInput.from_bytes(jpeg_bytes, "b.jpg"),
    ]
    job = aifaceswap.multi_swap(source, faces, [2, 0], HOOK)
    req = only_request(fake_aifaceswap, MULTI_FACESWAP)
    assert req.kind == "multipart"
    # what requests sends for data={"webhook": ..., "index": [2, 0]}: one form field per index
    assert req.form == {"webhook": [HOOK], "index": ["2", "0"]}
    assert [(p.field, p.filename, p.data) for p in req.files] == [
        ("source_image", "group.jpg", jpeg_bytes),
        ("face_image", "a.png", png_bytes),
        ("face_image", "b.jpg", jpeg_bytes),
    ]
    assert fake_aifaceswap.jobs[job.job_id].inputs["index"] == [2, 0]
    assert job.cost == 5


def test_multi_swap_refuses_faces_mixing_urls_and_bytes(fake_aifaceswap, aifaceswap, jpeg_bytes):
    faces = [ImageInput.from_url(FACE_URL), ImageInput.from_bytes(jpeg_bytes)]
    with pytest.raises(errors.InvalidRequest) as caught:
        aifaceswap.multi_swap(ImageInput.from_url(SOURCE_URL), faces, [0, 1])
    assert caught.value.field == "faces"
    assert fake_aifaceswap.requests == []


@pytest.mark.parametrize(
    ("faces", "indexes", "error", "field"),
    [
        (1, [0, 1], errors.InvalidRequest, "indexes"),
        (2, [0], errors.InvalidRequest, "indexes"),
        (2, [1, 1], errors.InvalidRequest, "indexes"),
        (1, [-1], errors.FaceIndexOutOfRange, "indexes"),
        (1, ["0"], errors.InvalidRequest, "indexes"),
        (0, [], errors.InvalidRequest, "faces"),
    ],
)
def test_multi_swap_checks_indexes_before_sending(fake_aifaceswap, aifaceswap, faces, indexes, error, field):
    with pytest.raises(error) as caught:
        aifaceswap.multi_swap(
            ImageInput.from_url(SOURCE_URL), [ImageInput.from_url(FACE_URL)] * faces, indexes
        )
    assert caught.value.field == field
    assert fake_aifaceswap.requests == []


def test_multi_swap_index_beyond_the_faces_is_face_index_out_of_range(fake_aifaceswap, aifaceswap):
    with pytest.raises(errors.FaceIndexOutOfRange):
        aifaceswap.multi_swap(ImageInput.from_url(SOURCE_URL), [ImageInput.from_url(FACE_URL)], [7])
    assert only_request(fake_aifaceswap, MULTI_FACESWAP).status == 400


def test_extract_faces_with_a_url(fake_aifaceswap, aifaceswap):
    boxes = aifaceswap.extract_faces(ImageInput.from_url(SOURCE_URL))
    req = only_request(fake_aifaceswap, EXTRACT_FACE)
    assert_auth(req)
    assert req.kind == "json"
    assert req.json == {"img": SOURCE_URL}
    assert boxes.faces == DEFAULT_FACES
    assert boxes.cost == 2


def test_extract_faces_with_bytes(fake_aifaceswap, aifaceswap, png_bytes):
    boxes = aifaceswap.extract_faces(ImageInput.from_bytes(png_bytes, "group.png", "image/png"))
    req = only_request(fake_aifaceswap, EXTRACT_FACE)
    assert req.kind == "multipart"
    assert req.form == {}
    assert [(p.field, p.filename, p.data) for p in req.files] == [("img", "group.png", png_bytes)]
    assert boxes.faces == DEFAULT_FACES


def test_extract_faces_of_a_picture_without_faces(sleeper):
    with FakeAifaceswap(api_key=KEY, faces=[]) as fake:
        provider = AifaceswapProvider(KEY, fake.base_url, sleep=sleeper)
        assert provider.extract_faces(ImageInput.from_url(SOURCE_URL)).faces == []


def test_extract_faces_is_a_submit_and_not_retried(fake_aifaceswap, aifaceswap, sleeper):
    fake_aifaceswap.inject("server_error", times=None)
    with pytest.raises(errors.ProviderBusy):
        aifaceswap.extract_faces(ImageInput.from_url(SOURCE_URL))
    assert len(fake_aifaceswap.requests_to(EXTRACT_FACE)) == 1  # it costs points: never sent twice
    assert sleeper.waits == []


def test_operations_and_fetch_not_supported(fake_aifaceswap, aifaceswap):
    assert aifaceswap.operations == {Operation.SWAP, Operation.MULTI_SWAP, Operation.EXTRACT_FACES}
    assert not aifaceswap.supports(Operation.FETCH)
    assert aifaceswap.accepts_bytes
    with pytest.raises(errors.OperationNotSupported):
        aifaceswap.fetch("4e8f96115346c727c688b81d3700924f")
    assert fake_aifaceswap.requests == []


# --- errors: HTTP rows and the envelope -----------------------------------------------------------


@pytest.mark.parametrize(("fault", "error", "status"), HTTP_ERROR_ROWS)
def test_http_error_rows(fake_aifaceswap, aifaceswap, fault, error, status):
    fake_aifaceswap.inject(fault)
    with pytest.raises(error) as caught:
        aifaceswap.swap(ImageInput.from_url(SOURCE_URL), ImageInput.from_url(FACE_URL))
    assert type(caught.value) is error
    assert caught.value.provider_status == status
    assert only_request(fake_aifaceswap, FACESWAP).status == status


def test_wrong_key_is_auth_failed(fake_aifaceswap, sleeper):
    provider = AifaceswapProvider("not-the-key", fake_aifaceswap.base_url, sleep=sleeper)
    with pytest.raises(errors.ProviderAuthFailed):
        provider.swap(ImageInput.from_url(SOURCE_URL), ImageInput.from_url(FACE_URL))
    assert only_request(fake_aifaceswap, FACESWAP).status == 401


def test_rate_limited_carries_retry_after(fake_aifaceswap, aifaceswap):
    fake_aifaceswap.inject("rate_limited", retry_after=4)
    with pytest.raises(errors.ProviderRateLimited) as caught:
        aifaceswap.swap(ImageInput.from_url(SOURCE_URL), ImageInput.from_url(FACE_URL))
    assert caught.value.retry_after == 4.0


def test_quota_in_the_envelope_under_http_200(fake_aifaceswap, aifaceswap):
    fake_aifaceswap.inject("quota")  # HTTP 200, code 1002, "Insufficient points"
    with pytest.raises(errors.ProviderQuotaExhausted) as caught:
        aifaceswap.swap(ImageInput.from_url(SOURCE_URL), ImageInput.from_url(FACE_URL))
    assert caught.value.provider_status == 1002
    assert "Insufficient points" in caught.value.message
    assert only_request(fake_aifaceswap, FACESWAP).status == 200


@pytest.mark.parametrize(
    ("code", "message", "error"),
    [
        (401, "Unauthorized", errors.ProviderAuthFailed),
        (402, "Payment required", errors.ProviderQuotaExhausted),
        (403, "Forbidden", errors.ProviderAccountBlocked),
        (400, "bad image", errors.ProviderInvalidInput),
        (429, "slow down", errors.ProviderRateLimited),
        (500, "Internal error", errors.ProviderBusy),
        (1002, "Your balance is not enough", errors.ProviderQuotaExhausted),
        (1003, "No face detected in face_image", errors.NoFaceDetected),
        (1004, "something odd", errors.ProviderError),
    ],
)
def test_envelope_codes_use_the_same_table(fake_aifaceswap, aifaceswap, code, message, error):
    fake_aifaceswap.inject("envelope_error", code=code, message=message)
    with pytest.raises(error) as caught:
        aifaceswap.multi_swap(ImageInput.from_url(SOURCE_URL), [ImageInput.from_url(FACE_URL)], [0])
    assert type(caught.value) is error
    assert caught.value.provider_status == code
    assert message in caught.value.message
    assert len(fake_aifaceswap.requests_to(MULTI_FACESWAP)) == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"code": 200, "data": {"task_id": ',  # cut off
        b"<html>502 Bad Gateway</html>",
        b"[1, 2]",
        b'{"data": {"task_id": "x"}}',  # no envelope code
        b'{"code": 200, "data": null, "message": "OK"}',  # no task id
        b'{"code": 200, "data": {"task_id": ""}, "message": "OK"}',
    ],
)
def test_malformed_answers_are_bad_response(fake_aifaceswap, aifaceswap, body):
    fake_aifaceswap.inject("malformed_json", body=body)
    with pytest.raises(errors.ProviderBadResponse):
        aifaceswap.swap(ImageInput.from_url(SOURCE_URL), ImageInput.from_url(FACE_URL))


def test_malformed_face_boxes_are_bad_response(fake_aifaceswap, aifaceswap):
    body = json.dumps({"code": 200, "data": {"faces": [[1, 2, 3]], "points": 2}, "message": "OK"})
    fake_aifaceswap.inject("malformed_json", body=body.encode())
    with pytest.raises(errors.ProviderBadResponse):
        aifaceswap.extract_faces(ImageInput.from_url(SOURCE_URL))


def test_slow_answer_beyond_the_read_timeout_is_busy(fake_aifaceswap, sleeper):
    provider = AifaceswapProvider(KEY, fake_aifaceswap.base_url, sleep=sleeper, read_timeout=0.2)
    fake_aifaceswap.inject("slow", seconds=1.0)
    with pytest.raises(errors.ProviderBusy, match="read timeout"):
        provider.swap(ImageInput.from_url(SOURCE_URL), ImageInput.from_url(FACE_URL))
    assert len(fake_aifaceswap.requests_to(FACESWAP)) == 1
    assert sleeper.waits == []


# --- webhooks -------------------------------------------------------------------------------------


def test_webhook_of_a_finished_swap(fake_aifaceswap, aifaceswap, webhook_receiver):
    job = aifaceswap.swap(
        ImageInput.from_url(SOURCE_URL), ImageInput.from_url(FACE_URL), webhook_receiver.url
    )
    delivery = webhook_receiver.wait_for(1)[0]
    parsed = aifaceswap.parse_webhook(delivery.body)
    assert parsed.provider == "aifaceswap"
    assert parsed.job_id == job.job_id
    assert parsed.state is ProviderState.SUCCEEDED
    assert parsed.result_url == fake_aifaceswap.jobs[job.job_id].result_urls["result_image"]
    assert parsed.error_code is None
    assert aifaceswap.parse_webhook(delivery.json) == parsed  # a dict works too
    assert aifaceswap.parse_webhook(delivery.body.decode()) == parsed  # and a str


def test_webhook_of_a_multi_swap(fake_aifaceswap, aifaceswap, webhook_receiver):
    job = aifaceswap.multi_swap(
        ImageInput.from_url(SOURCE_URL), [ImageInput.from_url(FACE_URL)], [1], webhook_receiver.url
    )
    delivery = webhook_receiver.wait_for(1)[0]
    assert delivery.json["type"] == 2
    parsed = aifaceswap.parse_webhook(delivery.body)
    assert (parsed.job_id, parsed.state) == (job.job_id, ProviderState.SUCCEEDED)


def test_webhook_of_a_failed_swap(fake_aifaceswap, aifaceswap, webhook_receiver):
    fake_aifaceswap.inject("job_failed")
    job = aifaceswap.swap(
        ImageInput.from_url(SOURCE_URL), ImageInput.from_url(FACE_URL), webhook_receiver.url
    )
    parsed = aifaceswap.parse_webhook(webhook_receiver.wait_for(1)[0].body)
    assert parsed.job_id == job.job_id
    assert parsed.state is ProviderState.FAILED
    assert parsed.result_url is None
    assert parsed.error_code == "provider_job_failed"
    assert parsed.error_message


def test_duplicate_webhooks_parse_the_same(fake_aifaceswap, aifaceswap, webhook_receiver):
    fake_aifaceswap.inject("duplicate_webhook", copies=2)
    aifaceswap.swap(ImageInput.from_url(SOURCE_URL), ImageInput.from_url(FACE_URL), webhook_receiver.url)
    first, second = webhook_receiver.wait_for(2)[:2]
    assert aifaceswap.parse_webhook(first.body) == aifaceswap.parse_webhook(second.body)


@pytest.mark.parametrize(
    ("body", "state", "code"),
    [
        (
            {"success": 1, "type": 1, "task_id": "t1", "result_image": "https://r.example/x.png"},
            "succeeded",
            None,
        ),
        ({"success": 0, "type": 1, "task_id": "t1", "result_image": ""}, "failed", "provider_job_failed"),
        ({"success": "0", "task_id": "t1", "message": "no face detected"}, "failed", "no_face_detected"),
        (
            {"success": 0, "task_id": "t1", "message": "insufficient points"},
            "failed",
            "provider_quota_exhausted",
        ),
        (b"success=1&type=1&task_id=t1&result_image=https%3A%2F%2Fr.example%2Fx.png", "succeeded", None),
    ],
)
def test_parse_webhook_shapes(aifaceswap, body, state, code):
    parsed = aifaceswap.parse_webhook(body)
    assert parsed.job_id == "t1"
    assert parsed.state == state
    assert parsed.error_code == code


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        {"success": 1, "type": 1, "result_image": "https://r.example/x.png"},  # no task id
        {"success": 1, "task_id": "t1"},  # success without a result
        {"success": 1, "task_id": "t1", "result_image": "ftp://r.example/x.png"},
        {"success": 7, "task_id": "t1"},
        {"task_id": "t1"},
    ],
)
def test_parse_webhook_refuses_malformed_bodies(aifaceswap, body):
    with pytest.raises(errors.ProviderBadResponse):
        aifaceswap.parse_webhook(body)


def test_constructor_needs_a_key():
    with pytest.raises(ValueError):
        AifaceswapProvider("")
