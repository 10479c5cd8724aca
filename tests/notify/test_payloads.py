"""Client webhook payloads, delays and target checks (no AWS calls: presigning is local)."""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import pytest
from swapgate.delivery import RETRY_BACKOFF, check_target, message_id, queue_url_from_arn, retry_delay
from swapgate.errors import DeliveryFailed, DeliveryRefused
from swapgate.jobs import Job, JobStatus
from swapgate.storage import Storage
from swapgate.views import aifaceswap_payload, job_payload, ttapi_payload, webhook_payload

API_DIR = Path(__file__).resolve().parents[2] / "functions" / "api"


@pytest.fixture
def storage(monkeypatch) -> Storage:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return Storage(bucket="swapgate-test", s3=boto3.client("s3"))


def finished(status: JobStatus, **changes) -> Job:
    values = {
        "id": "job_0123",
        "provider": "aifaceswap",
        "operation": "swap",
        "status": status,
        "points": 2,
        "webhook": "https://hooks.example.com/swap",
    }
    if status is JobStatus.SUCCEEDED:
        values["result_key"] = "results/job_0123.png"
    elif status.terminal:
        values.update(error_code="provider_job_failed", error_message="content violation")
    values.update(changes)
    return Job(**values)


@pytest.fixture
def job_view_model():
    if str(API_DIR) not in sys.path:
        sys.path.insert(0, str(API_DIR))
    from api_models import JobView

    return JobView


@pytest.mark.parametrize("status", list(JobStatus))
def test_swapgate_payload_has_the_fields_of_the_job_view(status, storage, job_view_model):
    job = finished(status)
    payload = webhook_payload(job, storage)

    assert set(payload) == set(job_view_model.model_fields)
    assert job_view_model(**payload).model_dump() == payload
    assert payload["id"] == "job_0123" and payload["status"] == str(status)
    if status is JobStatus.SUCCEEDED:
        assert "results/job_0123.png" in payload["result_url"] and "Signature" in payload["result_url"]
        assert payload["error"] is None
    else:
        assert payload["result_url"] is None


def test_failed_job_carries_its_error(storage):
    payload = job_payload(finished(JobStatus.FAILED), None)
    assert payload["error"] == {"code": "provider_job_failed", "message": "content violation", "field": None}


def test_aifaceswap_callback_format(storage):
    ok = webhook_payload(finished(JobStatus.SUCCEEDED, webhook_format="aifaceswap"), storage)
    assert set(ok) == {"success", "type", "task_id", "result_image"}
    assert ok["success"] == 1 and ok["type"] == 1 and ok["task_id"] == "job_0123"
    assert "results/job_0123.png" in ok["result_image"]

    multi = aifaceswap_payload(finished(JobStatus.SUCCEEDED, operation="multi_swap"), "https://x/r.png")
    assert multi == {"success": 1, "type": 2, "task_id": "job_0123", "result_image": "https://x/r.png"}
    for status in (JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELED):
        failed = aifaceswap_payload(finished(status), None)
        assert failed == {"success": 0, "type": 1, "task_id": "job_0123", "result_image": ""}


@pytest.mark.parametrize(
    ("status", "word"),
    [
        (JobStatus.QUEUED, "PENDING_QUEUE"),
        (JobStatus.RUNNING, "ON_QUEUE"),
        (JobStatus.SUCCEEDED, "SUCCESS"),
        (JobStatus.FAILED, "FAILED"),
        (JobStatus.TIMED_OUT, "FAILED"),
        (JobStatus.CANCELED, "FAILED"),
    ],
)
def test_ttapi_callback_format(status, word):
    job = finished(status, webhook_format="ttapi")
    result = "https://bucket/results/job_0123.png" if status is JobStatus.SUCCEEDED else None
    body = ttapi_payload(job, result)
    assert body["status"] == word and body["jobId"] == "job_0123"
    assert body["data"] == {"jobId": "job_0123", "cdnImage": result, "discordImage": None, "quota": 2}
    assert body["message"] == ("content violation" if status.terminal and result is None else "")


def test_unknown_format_falls_back_to_swapgate(storage):
    payload = webhook_payload(finished(JobStatus.FAILED, webhook_format="something-else"), storage)
    assert payload["id"] == "job_0123" and "error" in payload


def test_message_id_is_stable_per_terminal_event():
    assert message_id(finished(JobStatus.SUCCEEDED)) == "msg_job_0123_succeeded"
    assert message_id(finished(JobStatus.SUCCEEDED)) == message_id(finished(JobStatus.SUCCEEDED))
    assert message_id(finished(JobStatus.CANCELED)) == "msg_job_0123_canceled"


def test_retry_delays_grow_and_are_capped():
    assert [retry_delay(n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 900, 900, 900]
    assert retry_delay(0) == 30 and retry_delay(10_000) == RETRY_BACKOFF.cap == 900


def test_queue_url_from_arn():
    assert (
        queue_url_from_arn("arn:aws:sqs:eu-west-1:123456789012:swapgate-notify")
        == "https://sqs.eu-west-1.amazonaws.com/123456789012/swapgate-notify"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost:8443/hook",
        "https://metadata.internal/hook",
        "ftp://hooks.example.com/x",
    ],
)
def test_private_and_non_https_targets_are_refused(monkeypatch, url):
    monkeypatch.delenv("SWAPGATE_ALLOW_PRIVATE_URLS", raising=False)
    with pytest.raises(DeliveryRefused):
        check_target(url)


def test_loopback_targets_are_allowed_only_in_the_local_stack(monkeypatch):
    monkeypatch.setenv("SWAPGATE_ALLOW_PRIVATE_URLS", "1")
    assert check_target("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"


def test_unresolvable_host_is_retried_not_dropped(monkeypatch):
    monkeypatch.delenv("SWAPGATE_ALLOW_PRIVATE_URLS", raising=False)
    with pytest.raises(DeliveryFailed):
        check_target("https://hooks.swapgate-test.invalid/hook")
