"""What the API and callback functions log, at DEBUG, over a job's whole life: never a presigned URL
(the answers are full of them), an API key, a callback token or image bytes."""

from __future__ import annotations

import base64
import io
import json
import logging

OTHER_API_KEY = "client-key-2"
#: what every presigned S3 URL or POST form carries (SigV4 and SigV2 styles)
SIGNATURE_MARKS = ("X-Amz-Signature", "X-Amz-Credential", "x-amz-signature", "Signature=", "AWSAccessKeyId")


def _presigned(value, found: list[str]) -> list[str]:
    """Every presigned URL (and presigned POST field value) in an answer body."""
    if isinstance(value, dict):
        for item in value.values():
            _presigned(item, found)
    elif isinstance(value, list):
        for item in value:
            _presigned(item, found)
    elif isinstance(value, str) and any(mark.lower() in value.lower() for mark in SIGNATURE_MARKS):
        found.append(value)
    return found


def test_no_presigned_url_key_token_or_image_reaches_the_logs(deployment, fake_ttapi, face_bytes):
    service_logger = logging.getLogger("swapgate")  # the functions' Powertools logger
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(service_logger.handlers[0].formatter)
    service_logger.addHandler(capture)
    # the service logger and its children (Powertools gives each child its own level)
    ours = [service_logger] + [
        logger
        for name, logger in logging.root.manager.loggerDict.items()
        if name.startswith("swapgate.") and isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in ours}
    for logger in ours:
        logger.setLevel(logging.DEBUG)
    answers = []
    try:
        ticket = deployment.api("POST", "/v1/uploads")
        files = {
            "source_image": ("source.png", face_bytes["astronaut.png"], "image/png"),
            "face_image": ("face.jpg", face_bytes["grace_hopper.jpg"], "image/jpeg"),
        }
        submitted = deployment.api("POST", "/v1/swaps", files=files, data={"provider": "ttapi"})
        assert submitted.status == 202, submitted.body
        job_id = submitted.body["id"]
        (hook,) = deployment.deliver_callbacks(1)
        assert hook.status == 200
        view = deployment.api("GET", f"/v1/swaps/{job_id}", resource="/v1/swaps/{id}")
        fetched = deployment.api("POST", "/insightFace/v1/fetch", json_body={"jobId": job_id})
        refused = deployment.api("POST", "/v1/swaps", json_body={}, key="wrong-key-123")
        other = deployment.api("GET", f"/v1/swaps/{job_id}", resource="/v1/swaps/{id}", key=OTHER_API_KEY)
        answers = [ticket, submitted, view, fetched, refused, other]
    finally:
        service_logger.removeHandler(capture)
        for logger, level in levels.items():
            logger.setLevel(level)

    assert refused.status == 401 and other.status == 404
    urls = _presigned([answer.body for answer in answers], [])
    assert len(urls) >= 2  # the result in GET and in the TTAPI fetch
    form = {name.lower(): value for name, value in ticket.body["fields"].items()}
    urls += [form.get("signature") or form["x-amz-signature"], form["policy"]]  # the upload form
    provider_saw = [request.json for request in fake_ttapi.requests if request.json]
    urls += _presigned(provider_saw, [])  # the presigned inputs handed to the provider
    logs = stream.getvalue()
    lines = [json.loads(line) for line in logs.splitlines()]
    assert any(line["message"] == "job created" for line in lines)  # the capture saw the requests
    for url in urls:
        assert url not in logs
    for mark in SIGNATURE_MARKS:
        assert mark not in logs
    token = deployment.callbacks.received[0].path.split("token=")[1]
    for secret in ("client-key-1", OTHER_API_KEY, "wrong-key-123", token, "test-signing-secret", "test-key"):
        assert secret not in logs
    for image in (face_bytes["astronaut.png"], face_bytes["grace_hopper.jpg"]):
        chunk = image[64:96]
        assert base64.b64encode(chunk).decode() not in logs and repr(chunk)[2:-1] not in logs
