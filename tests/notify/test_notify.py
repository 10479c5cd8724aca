"""Client webhooks through the real handlers: a job ends (fake provider -> callback function) -> the
jobs table's stream record -> the job-events function -> a message on the notify queue (moto) -> the
notify function -> a signed POST to a loopback receiver."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from standardwebhooks.webhooks import Webhook
from support import API_KEY, EVENTS, WEBHOOK_SECRET, lambda_context
from swapgate.access import key_digest
from swapgate.delivery import deliver
from swapgate.errors import DeliveryFailed, InvalidRequest
from swapgate.gateway import Gateway, ImageSource, SubmitRequest
from swapgate.images import sniff
from swapgate.jobs import JobStore
from swapgate.providers.base import Operation
from swapgate.signing import WebhookVerificationError, verify_webhook
from swapgate.storage import Storage
from swapgate_dev.fakes import WebhookReceiver

SECRET = WEBHOOK_SECRET


def submit(stack, fake, webhook: str, *, provider: str = "aifaceswap", webhook_format: str = "swapgate"):
    image = f"{fake.base_url}/cdn/input.png"
    return Gateway.from_env().submit(
        SubmitRequest(
            operation=Operation.SWAP,
            source=ImageSource("source_image", url=image),
            faces=[ImageSource("face_image", url=image)],
            provider=provider,
            webhook=webhook,
            webhook_format=webhook_format,
            owner=key_digest(API_KEY),  # the client's job: GET /v1/swaps shows it
        ),
        stack.callbacks.base_url,
    )


def finish(stack, job_id: str) -> None:
    """The provider's webhook reaches the callback function; the job ends; its stream record reaches
    the job-events function, which queues the notification."""
    ((status, body),) = stack.deliver_callbacks(1)
    assert status == 200 and body["id"] == job_id
    stack.run_events()


def test_finished_job_is_posted_signed_with_the_fields_of_get(stack, fake_aifaceswap, webhook_receiver):
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    finish(stack, job.id)
    assert stack.depth("NotifyQueue") == 1

    assert stack.run_notify() == {"batchItemFailures": []}

    (hook,) = webhook_receiver.wait_for(1)
    headers = {k.lower(): v for k, v in hook.headers.items()}
    assert headers["webhook-id"] == f"msg_{job.id}_succeeded"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"
    payload = verify_webhook(hook.body, hook.headers, SECRET)
    assert Webhook(SECRET).verify(hook.body, hook.headers) == payload  # the spec's reference package
    with pytest.raises(WebhookVerificationError):
        verify_webhook(hook.body.replace(b"succeeded", b"failed"), hook.headers, SECRET)

    status, view = stack.api("GET", f"/v1/swaps/{job.id}", resource="/v1/swaps/{id}")
    assert status == 200
    assert set(payload) == set(view)
    assert {k: v for k, v in payload.items() if k != "result_url"} == {
        k: v for k, v in view.items() if k != "result_url"
    }
    assert payload["status"] == "succeeded" and payload["provider"] == "aifaceswap"
    image = requests.get(payload["result_url"], timeout=5)  # our bucket's copy (moto), not the provider's
    assert image.status_code == 200 and sniff(image.content) == "png"
    assert fake_aifaceswap.base_url not in payload["result_url"]
    assert stack.depth("NotifyQueue") == 0


def test_failed_job_is_posted_with_its_error(stack, fake_aifaceswap, webhook_receiver):
    fake_aifaceswap.inject("job_failed", message="no face found")
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    finish(stack, job.id)

    assert stack.run_notify() == {"batchItemFailures": []}

    (hook,) = webhook_receiver.wait_for(1)
    payload = verify_webhook(hook.body, hook.headers, SECRET)
    assert payload["status"] == "failed" and payload["result_url"] is None
    assert payload["error"]["code"] and payload["error"]["message"]
    assert hook.headers["webhook-id"] == f"msg_{job.id}_failed"
    _, view = stack.api("GET", f"/v1/swaps/{job.id}", resource="/v1/swaps/{id}")
    assert payload == view


def test_canceled_job_is_posted_once_and_the_late_result_is_not(stack, fake_aifaceswap, webhook_receiver):
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    Gateway.from_env().cancel(job.id)
    assert stack.run_notify() == {"batchItemFailures": []}
    (hook,) = webhook_receiver.wait_for(1)
    assert verify_webhook(hook.body, hook.headers, SECRET)["status"] == "canceled"
    assert hook.headers["webhook-id"] == f"msg_{job.id}_canceled"

    finish(stack, job.id)  # the provider's late result
    assert stack.depth("NotifyQueue") == 0
    assert stack.keys("results/") == []


def test_failed_delivery_backs_off_and_retries_with_the_same_webhook_id(
    stack, fake_aifaceswap, webhook_receiver
):
    webhook_receiver.status = 500
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    finish(stack, job.id)

    delays = []
    for attempt in (1, 2):
        (message,) = stack.receive("NotifyQueue")
        assert message["Attributes"]["ApproximateReceiveCount"] == str(attempt)
        answer = stack.invoke(stack.notify_module, "NotifyQueue", [message])
        assert answer == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
        (left,) = stack.invisible_for("NotifyQueue")
        delays.append(left)
        assert stack.receive("NotifyQueue") == []  # not before the delay
        stack.make_visible("NotifyQueue", message)  # the delay passes
    assert 25 < delays[0] <= 30 and 55 < delays[1] <= 60

    webhook_receiver.status = 204
    assert stack.run_notify() == {"batchItemFailures": []}

    hooks = webhook_receiver.wait_for(3)
    assert len(hooks) == 3
    assert {hook.headers["webhook-id"] for hook in hooks} == {f"msg_{job.id}_succeeded"}
    assert all(verify_webhook(hook.body, hook.headers, SECRET)["id"] == job.id for hook in hooks)
    assert stack.depth("NotifyQueue") == 0


def test_delivery_goes_to_the_dead_letter_queue_after_the_last_try(stack, fake_aifaceswap, webhook_receiver):
    webhook_receiver.status = 503
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    finish(stack, job.id)
    tries = stack.redrive["NotifyQueue"]  # maxReceiveCount from template.yaml

    for _ in range(tries):
        (message,) = stack.receive("NotifyQueue")
        answer = stack.invoke(stack.notify_module, "NotifyQueue", [message])
        assert answer["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
        stack.make_visible("NotifyQueue", message)

    assert stack.receive("NotifyQueue") == []  # SQS moved it on this receive
    (dead,) = stack.receive("NotifyDeadLetterQueue")
    assert json.loads(dead["Body"]) == {"job_id": job.id, "status": "succeeded"}
    assert len(webhook_receiver.received) == tries


def test_private_target_is_refused_at_delivery_without_the_local_flag(
    stack, fake_aifaceswap, webhook_receiver, monkeypatch
):
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)  # accepted: the flag is on
    finish(stack, job.id)
    monkeypatch.delenv("SWAPGATE_ALLOW_PRIVATE_URLS")

    assert stack.run_notify() == {"batchItemFailures": []}  # dropped, not retried

    assert stack.depth("NotifyQueue") == 0
    assert webhook_receiver.received == []


def test_private_target_is_refused_at_submit_without_the_local_flag(
    stack, fake_aifaceswap, webhook_receiver, monkeypatch
):
    monkeypatch.delenv("SWAPGATE_ALLOW_PRIVATE_URLS")
    for target in (webhook_receiver.url, "https://127.0.0.1/hook", "https://169.254.169.254/x"):
        with pytest.raises(InvalidRequest) as refused:
            submit(stack, fake_aifaceswap, target)
        assert refused.value.field == "webhook"
    assert stack.jobs() == [] and fake_aifaceswap.requests == []


def route_callback(stack, webhook_receiver, path: str, json_body: dict, id_field: str) -> tuple[str, dict]:
    """Start a job on a compatibility route, finish it and deliver its callback: the job's id (the
    answer's ``data[id_field]``) and the callback's body, whose signature is checked all the same."""
    status, answer = stack.api("POST", path, json_body=json_body)
    assert status == 200, answer
    job_id = answer["data"][id_field]
    finish(stack, job_id)

    assert stack.run_notify() == {"batchItemFailures": []}

    (hook,) = webhook_receiver.wait_for(1)
    return job_id, verify_webhook(hook.body, hook.headers, SECRET)


def test_aifaceswap_route_jobs_get_aifaceswap_callbacks(stack, fake_aifaceswap, webhook_receiver):
    image = f"{fake_aifaceswap.base_url}/cdn/input.png"
    request = {"source_image": image, "face_image": image, "webhook": webhook_receiver.url}
    task_id, body = route_callback(stack, webhook_receiver, "/api/aifaceswap/v1/faceswap", request, "task_id")
    assert set(body) == {"success", "type", "task_id", "result_image"}
    assert body["success"] == 1 and body["type"] == 1 and body["task_id"] == task_id
    assert sniff(requests.get(body["result_image"], timeout=5).content) == "png"


def test_aifaceswap_multi_route_failure_callback(stack, fake_aifaceswap, webhook_receiver):
    fake_aifaceswap.inject("job_failed")
    image = f"{fake_aifaceswap.base_url}/cdn/input.png"
    status, answer = stack.api(
        "POST",
        "/api/aifaceswap/v1/multi_faceswap",
        json_body={
            "source_image": image,
            "face_image": [image],
            "index": [0],
            "webhook": webhook_receiver.url,
        },
    )
    assert status == 200, answer
    finish(stack, answer["data"]["task_id"])
    stack.run_notify()
    (hook,) = webhook_receiver.wait_for(1)
    assert json.loads(hook.body) == {
        "success": 0,
        "type": 2,
        "task_id": answer["data"]["task_id"],
        "result_image": "",
    }


def test_ttapi_route_jobs_get_ttapi_callbacks(stack, fake_aifaceswap, webhook_receiver):
    image = f"{fake_aifaceswap.base_url}/cdn/input.png"
    request = {"targetImage": image, "swapImage": image, "hookUrl": webhook_receiver.url}
    job_id, body = route_callback(stack, webhook_receiver, "/insightFace/v1/swap", request, "jobId")
    assert body["status"] == "SUCCESS" and body["jobId"] == job_id
    _, fetched = stack.api("POST", "/insightFace/v1/fetch", json_body={"jobId": job_id})
    assert {k: v for k, v in body.items() if k != "data"} == {k: v for k, v in fetched.items() if k != "data"}
    assert set(body["data"]) == set(fetched["data"]) == {"jobId", "cdnImage", "discordImage", "quota"}
    assert sniff(requests.get(body["data"]["cdnImage"], timeout=5).content) == "png"


def test_messages_for_missing_jobs_and_malformed_messages_are_dropped(stack):
    stack.send("NotifyQueue", json.dumps({"job_id": "job_gone", "status": "succeeded"}))
    stack.send("NotifyQueue", "not json")
    assert stack.run_notify() == {"batchItemFailures": []}
    assert stack.depth("NotifyQueue") == 0


def test_missing_webhook_secret_is_retried(stack, fake_aifaceswap, webhook_receiver, monkeypatch):
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    finish(stack, job.id)
    monkeypatch.delenv("SWAPGATE_WEBHOOK_SECRET")

    (message,) = stack.receive("NotifyQueue")
    answer = stack.invoke(stack.notify_module, "NotifyQueue", [message])

    assert answer == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert webhook_receiver.received == []
    assert stack.depth("NotifyQueue") == 1


def test_partial_batch_failure_reports_only_the_failed_record(stack, fake_aifaceswap, webhook_receiver):
    with WebhookReceiver(status=500) as broken:
        good = submit(stack, fake_aifaceswap, webhook_receiver.url)
        bad = submit(stack, fake_aifaceswap, broken.url)
        stack.deliver_callbacks(2)
        stack.run_events()
        messages = stack.receive("NotifyQueue")
        assert len(messages) == 2

        answer = stack.invoke(stack.notify_module, "NotifyQueue", messages)

        failed_id = next(m["MessageId"] for m in messages if bad.id in m["Body"])
        assert answer == {"batchItemFailures": [{"itemIdentifier": failed_id}]}
        (hook,) = webhook_receiver.wait_for(1)
        assert json.loads(hook.body)["id"] == good.id
        assert len(broken.wait_for(1)) == 1


def test_example_event_file_runs_through_the_handler(stack, fake_aifaceswap, webhook_receiver):
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    finish(stack, job.id)
    event = json.loads((EVENTS / "notify_sqs.json").read_text())
    event["Records"][0]["body"] = json.dumps({"job_id": job.id, "status": "succeeded"})

    answer = stack.notify_module.handler(event, lambda_context())

    assert answer == {"batchItemFailures": []}
    (hook,) = webhook_receiver.wait_for(1)
    assert verify_webhook(hook.body, hook.headers, SECRET)["id"] == job.id


class _Target:
    """A loopback HTTP server with one behaviour: ``redirect`` (307 to ``location``) or ``slow``."""

    def __init__(self, mode: str, location: str = "", delay: float = 2.0) -> None:
        target = self
        self.hits = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target.hits += 1
                if mode == "slow":
                    time.sleep(delay)
                self.send_response(307 if mode == "redirect" else 200)
                if mode == "redirect":
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.daemon = True

    def __enter__(self) -> _Target:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def test_redirects_are_not_followed(stack, fake_aifaceswap, webhook_receiver):
    with _Target("redirect", location=webhook_receiver.url) as redirecting:
        job = submit(stack, fake_aifaceswap, redirecting.url)
        finish(stack, job.id)
        with pytest.raises(DeliveryFailed) as failed:
            deliver(JobStore.from_env().get(job.id), Storage.from_env())
        assert "307" in failed.value.message
        assert redirecting.hits == 1
    assert webhook_receiver.received == []


def test_slow_receivers_time_out(stack, fake_aifaceswap):
    with _Target("slow", delay=2.0) as slow:
        job = submit(stack, fake_aifaceswap, slow.url)
        finish(stack, job.id)
        started = time.monotonic()
        with pytest.raises(DeliveryFailed) as failed:
            deliver(JobStore.from_env().get(job.id), Storage.from_env(), deadline_s=0.3)
        assert time.monotonic() - started < 1.5
        assert "did not answer within 0.3 s" in failed.value.message
        assert "token" not in failed.value.message and slow.url not in failed.value.message


def test_webhook_urls_and_secrets_stay_out_of_logs(stack, fake_aifaceswap, webhook_receiver, caplog):
    webhook_receiver.status = 500
    job = submit(stack, fake_aifaceswap, webhook_receiver.url + "?token=receiver-secret-123")
    finish(stack, job.id)
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="swapgate")  # ours (Powertools loggers of the service)

    answer = stack.run_notify()

    assert len(answer["batchItemFailures"]) == 1
    (hook,) = webhook_receiver.wait_for(1)
    assert hook.path.endswith("?token=receiver-secret-123")
    ours = [r for r in caplog.records if r.name.startswith("swapgate")]
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert "notification failed" in text and "HTTP 500" in text
    assert "receiver-secret-123" not in text and SECRET not in text
    assert hook.headers["webhook-signature"] not in text
