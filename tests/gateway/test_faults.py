"""One fault at a time, through the real handlers on moto with the provider fakes: a throttled or lost
write, a process that dies after the terminal write, a provider that never answers, a poller that
cannot start. Each test checks what must stay true: one terminal transition, a result under results/
only for a succeeded job (exactly one), nothing left in staging/ once the job-events function ran,
and a client that learns the job id whenever the provider may have the job."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from support import FACES, api_event, lambda_context, proxy_answer
from swapgate import poller as poller_contract
from swapgate.errors import ProviderBusy
from swapgate.gateway import Gateway, ImageSource, SubmitRequest
from swapgate.jobs import JobStatus
from swapgate.providers.base import Operation, ProviderJob, ProviderState
from test_poller import _wait_for_end, poller  # noqa: F401  the poller fixture and its helper

SWAP = "/v1/swaps"


def throttle(client, operation: str, when=lambda body: True, times: int | None = None) -> list[dict]:
    """Make ``client`` fail ``operation`` with DynamoDB's throttling error (``times`` times, or always)
    for requests whose body ``when`` accepts; returns the bodies it failed."""
    failed: list[dict] = []

    def fail(params, **_):
        body = json.loads(params["body"])
        if when(body) and (times is None or len(failed) < times):
            failed.append(body)
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}},
                operation,
            )

    client.meta.events.register(f"before-call.dynamodb.{operation}", fail)
    return failed


def to_status(status: str):
    return lambda body: body.get("ExpressionAttributeValues", {}).get(":status", {}).get("S") == status


@pytest.fixture
def job_events(deployment, monkeypatch):
    """Runs the job-events function on the jobs table's new stream records (the template's mapping)."""
    monkeypatch.setenv("SWAPGATE_NOTIFY_QUEUE_URL", deployment.queue_urls["NotifyQueue"])
    return deployment.run_events


def submit(deployment, fake, **extra) -> str:
    body = {"source_image": f"{fake.base_url}/a.png", "face_image": f"{fake.base_url}/b.png", **extra}
    answer = deployment.api("POST", SWAP, json_body=body)
    assert answer.status == 202, answer.body
    return answer.body["id"]


# --- results are tied to terminal states -----------------------------------------------------------


def test_a_throttled_success_leaves_no_result_and_the_provider_retry_publishes_one(
    deployment, fake_aifaceswap, job_events
):
    job_id = submit(deployment, fake_aifaceswap)
    gateway = deployment.callback_module.gateway()
    failed = throttle(gateway.store.table.meta.client, "UpdateItem", to_status("succeeded"), times=1)
    (hook,) = deployment.callbacks.wait_for(1)

    with pytest.raises(ClientError):  # Lambda answers 5xx: the provider sends its webhook again
        deployment.callback(hook.path, hook.body)

    assert len(failed) == 1 and deployment.job(job_id)["status"] == "running"
    assert deployment.keys("results/") == [] and len(deployment.keys(f"staging/{job_id}/")) == 1
    retried = deployment.callback(hook.path, hook.body)
    assert retried.status == 200 and retried.body["status"] == "succeeded"
    job_events()
    assert deployment.keys("results/") == [f"results/{job_id}.png"]
    assert deployment.keys("staging/") == []  # the first try's staged copy is gone too


def test_a_process_dying_right_after_the_terminal_write_loses_nothing(
    deployment, fake_aifaceswap, job_events, monkeypatch
):
    job_id = submit(deployment, fake_aifaceswap)
    gateway = deployment.callback_module.gateway()

    def die(job):
        raise SystemExit("the Lambda runtime was killed")

    monkeypatch.setattr(gateway, "_ended", die)
    with pytest.raises(SystemExit):
        deployment.deliver_callbacks(1)

    job = deployment.job(job_id)
    assert job["status"] == "succeeded" and job["result_key"] == f"results/{job_id}.png"
    assert deployment.keys("results/") == []  # not published yet
    job_events()  # the stream hands the transition over anyway
    assert deployment.keys("results/") == [job["result_key"]] and deployment.keys("staging/") == []
    view = deployment.api("GET", f"{SWAP}/{job_id}", resource="/v1/swaps/{id}")
    assert view.body["status"] == "succeeded" and job["result_key"] in view.body["result_url"]


def test_a_result_arriving_after_cancel_is_dropped_without_trace(deployment, fake_aifaceswap, job_events):
    job_id = submit(deployment, fake_aifaceswap)
    canceled = deployment.api("POST", f"{SWAP}/{job_id}/cancel", resource="/v1/swaps/{id}/cancel")
    assert canceled.body["status"] == "canceled"
    (late,) = deployment.deliver_callbacks(1)
    assert late.status == 200 and late.body["status"] == "canceled"
    job_events()
    assert deployment.keys("results/") == [] and deployment.keys("staging/") == []


class _ImageServer:
    """A loopback server answering every GET with one image file."""

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/result.jpg"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_racing_results_of_two_image_types_publish_exactly_one(deployment, fake_aifaceswap, job_events):
    """A duplicate webhook with a JPEG stages its copy, then loses the race to the PNG one: only the
    winner's type is ever under results/, and the loser removes its own staged copy."""
    job_id = submit(deployment, fake_aifaceswap)
    (hook,) = deployment.callbacks.wait_for(1)
    gateway = Gateway.from_env()
    stage = gateway.storage.stage_result

    def stage_then_lose(job, url, **kwargs):
        staged = stage(job, url, **kwargs)
        assert deployment.callback(hook.path, hook.body).body["status"] == "succeeded"  # the png wins
        return staged

    with _ImageServer(FACES / "grace_hopper.jpg") as jpeg:
        gateway.storage.stage_result = stage_then_lose
        late = gateway.apply_provider_update(
            job_id, ProviderJob("aifaceswap", "", ProviderState.SUCCEEDED, result_url=jpeg.url)
        )

    assert late.status is JobStatus.SUCCEEDED and late.result_key == f"results/{job_id}.png"
    assert deployment.keys("results/") == [f"results/{job_id}.png"] and deployment.keys("staging/") == []
    job_events()
    assert deployment.keys("results/") == [f"results/{job_id}.png"]


def test_a_job_that_never_succeeds_leaves_no_result(deployment, fake_aifaceswap, job_events):
    """The success write keeps failing (throttled past its tries) and the deadline times the job out:
    the staged copy is removed and nothing ever reaches results/."""
    job_id = submit(deployment, fake_aifaceswap)
    throttle(
        deployment.callback_module.gateway().store.table.meta.client, "UpdateItem", to_status("succeeded")
    )
    with pytest.raises(ClientError):
        deployment.deliver_callbacks(1)

    assert Gateway.from_env().time_out(job_id).status is JobStatus.TIMED_OUT
    job_events()
    assert deployment.keys("results/") == [] and deployment.keys("staging/") == []


# --- the deadline does not throw a result away ------------------------------------------------------


def test_the_deadline_asks_a_fetch_capable_provider_one_last_time(deployment, fake_ttapi, job_events):
    fake_ttapi.inject("no_webhook", delay=0.2)
    job_id = submit(deployment, fake_ttapi, provider="ttapi")
    time.sleep(0.5)  # the provider has finished; nobody has asked yet

    ended = Gateway.from_env().time_out(job_id)

    assert ended.status is JobStatus.SUCCEEDED
    job_events()
    assert deployment.keys("results/") == [f"results/{job_id}.png"]


def test_a_result_that_cannot_be_copied_at_the_deadline_is_asked_for_again(deployment, fake_ttapi):
    fake_ttapi.inject("no_webhook", delay=0.2)
    job_id = submit(deployment, fake_ttapi, provider="ttapi")
    time.sleep(0.5)
    fake_ttapi.inject("server_error", times=1, path="/mjcdn/")  # the provider's CDN fails once
    gateway = Gateway.from_env()
    gateway.store.update(job_id, deadline=int(time.time()))  # the poller's deadline, just passed

    with pytest.raises(ProviderBusy):  # MarkTimedOut fails: the poller waits and asks again
        gateway.time_out(job_id)
    assert deployment.job(job_id)["status"] == "running"

    assert gateway.time_out(job_id).status is JobStatus.SUCCEEDED


def test_a_result_still_not_copyable_long_after_the_deadline_times_the_job_out(deployment, fake_ttapi):
    fake_ttapi.inject("no_webhook", delay=0.2)
    job_id = submit(deployment, fake_ttapi, provider="ttapi")
    time.sleep(0.5)
    fake_ttapi.inject("server_error", times=None, path="/mjcdn/")
    gateway = Gateway.from_env()
    gateway.store.update(job_id, deadline=int(time.time()) - 7200)  # past the grace

    assert gateway.time_out(job_id).status is JobStatus.TIMED_OUT


# --- submit never guesses ----------------------------------------------------------------------------


def api_near_the_limit(deployment, body: dict, *, seconds_used: float, headers=None):
    """POST /v1/swaps as API Gateway forwards it ``seconds_used`` after receiving it."""
    event = api_event(
        "POST", SWAP, resource=SWAP, headers={"x-api-key": "client-key-1", **(headers or {})}, json_body=body
    )
    event["requestContext"]["requestTimeEpoch"] = int((time.time() - seconds_used) * 1000)
    return proxy_answer(deployment.api_module.handler(event, lambda_context()))


def test_a_submit_the_provider_never_answers_runs_on_and_its_webhook_ends_it(deployment, fake_aifaceswap):
    """The provider takes the job but answers too late: the API answers in time with the job id, the
    job runs with no provider id, and the provider's webhook (which names our job) finishes it."""
    fake_aifaceswap.inject("slow", seconds=3, path="/api/aifaceswap/v1/faceswap")
    body = {
        "source_image": f"{fake_aifaceswap.base_url}/a.png",
        "face_image": f"{fake_aifaceswap.base_url}/b.png",
    }
    started = time.monotonic()

    # 23.5 s of API Gateway's 29 s are gone; the API keeps 4 s to answer: 1.5 s for the provider
    answer = api_near_the_limit(deployment, body, seconds_used=23.5)

    assert time.monotonic() - started < 3
    assert answer.status == 202 and answer.body["status"] == "running"
    job = deployment.job(answer.body["id"])
    assert job["submit_ambiguous"] is True and "provider_job_id" not in job
    (callback,) = deployment.deliver_callbacks(1)
    assert callback.body["status"] == "succeeded"
    finished = deployment.job(job["id"])
    assert finished["status"] == "succeeded" and finished["provider_job_id"]


def test_no_time_left_for_the_provider_fails_the_job_without_sending(deployment, fake_aifaceswap):
    body = {
        "source_image": f"{fake_aifaceswap.base_url}/a.png",
        "face_image": f"{fake_aifaceswap.base_url}/b.png",
    }
    answer = api_near_the_limit(deployment, body, seconds_used=25)
    assert answer.status == 503 and answer.body["error"]["code"] == "provider_busy"
    assert deployment.job(answer.body["error"]["job_id"])["status"] == "failed"
    assert fake_aifaceswap.requests_to("/api/aifaceswap/v1/faceswap") == []


def test_a_poller_that_cannot_start_leaves_nothing_behind(deployment, fake_aifaceswap, monkeypatch):
    monkeypatch.setenv(
        "SWAPGATE_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:gone"
    )
    deployment.reload()
    body = {
        "source_image": f"{fake_aifaceswap.base_url}/a.png",
        "face_image": f"{fake_aifaceswap.base_url}/b.png",
    }
    answer = deployment.api("POST", SWAP, json_body=body)
    assert answer.status == 503 and answer.body["error"]["code"] == "service_unavailable"
    items = deployment.table.scan()["Items"]
    assert [item for item in items if "operation" in item] == []
    assert fake_aifaceswap.requests_to("/api/aifaceswap/v1/faceswap") == []


def test_a_provider_answer_that_cannot_be_recorded_still_gives_the_job_and_a_retry_never_pays_twice(
    deployment, fake_aifaceswap
):
    """The provider accepted, but the move to running is throttled past its tries: the client still
    gets the job id (202, queued), a retry with the same Idempotency-Key gets the same job without a
    second provider call, and the provider's webhook ends the job."""
    client = deployment.api_module.gateway().store.table.meta.client
    failed = throttle(client, "UpdateItem", to_status("running"))
    body = {
        "source_image": f"{fake_aifaceswap.base_url}/a.png",
        "face_image": f"{fake_aifaceswap.base_url}/b.png",
    }
    headers = {"Idempotency-Key": "order-42"}

    first = deployment.api("POST", SWAP, json_body=body, headers=headers)
    again = deployment.api("POST", SWAP, json_body=body, headers=headers)

    assert first.status == again.status == 202 and len(failed) >= 2
    assert first.body["id"] == again.body["id"] and first.body["status"] == "queued"
    assert len(fake_aifaceswap.requests_to("/api/aifaceswap/v1/faceswap")) == 1
    (callback,) = deployment.deliver_callbacks(1)
    assert callback.body["status"] == "succeeded"


def test_cost_recorded_by_an_early_webhook_survives_the_submit_answer(deployment, fake_aifaceswap):
    """The webhook is applied while submit still waits for the provider's answer; the answer, which
    carries no cost, must not erase the one the webhook recorded."""
    gateway = Gateway.from_env()
    real = gateway.provider_factory

    class EarlyWebhook:
        def __init__(self, provider) -> None:
            self.provider = provider
            self.name = provider.name

        def __getattr__(self, name):
            return getattr(self.provider, name)

        def swap(self, source, face, webhook_url=None):
            answer = self.provider.swap(source, face, webhook_url)
            job_id = webhook_url.split("?")[0].rsplit("/", 1)[1]
            (hook,) = deployment.callbacks.wait_for(1)
            update = self.provider.parse_webhook(hook.body)
            gateway.apply_provider_update(job_id, ProviderJob(**{**update.__dict__, "cost": 3}))
            return ProviderJob(answer.provider, answer.job_id, answer.state, cost=None)

    gateway.provider_factory = lambda name: EarlyWebhook(real(name))
    image = f"{fake_aifaceswap.base_url}/a.png"
    job = gateway.submit(
        SubmitRequest(
            Operation.SWAP, ImageSource("source_image", url=image), [ImageSource("face_image", url=image)]
        ),
        deployment.callbacks.base_url,
    )

    stored = deployment.job(job.id)
    assert stored["status"] == "succeeded" and stored["points"] == 3 and stored["provider_job_id"]


def test_a_record_that_was_never_created_ends_its_poller(deployment, poller, fake_aifaceswap, monkeypatch):  # noqa: F811
    """Submit starts the poller first; when creating the job record then fails, the client gets an
    error and the execution, finding no record once the grace has passed, ends by itself."""
    monkeypatch.setattr(poller_contract, "RECORD_GRACE_SECONDS", 0)
    throttle(deployment.api_module.gateway().store.table.meta.client, "PutItem")
    body = {
        "source_image": f"{fake_aifaceswap.base_url}/a.png",
        "face_image": f"{fake_aifaceswap.base_url}/b.png",
    }

    answer = deployment.api("POST", SWAP, json_body=body)
    assert answer.status == 503 and answer.body["error"]["code"] == "service_unavailable"

    (execution,) = poller.sfn.list_executions(stateMachineArn=poller.arn)["executions"]
    ended = _wait_for_end(poller.sfn, execution["executionArn"])
    assert ended["status"] == "SUCCEEDED" and json.loads(ended["output"])["status"] == "gone"
    assert fake_aifaceswap.requests_to("/api/aifaceswap/v1/faceswap") == []
    assert [item for item in deployment.table.scan()["Items"] if "operation" in item] == []


def test_a_submit_that_died_before_its_idempotency_record_was_saved_is_found_by_the_retry(
    deployment, fake_aifaceswap, monkeypatch
):
    """The provider took the job, then the API's process died before the Idempotency-Key's record
    said so (left in progress). Once that record expires, the client's retry gets the same job: its id
    comes from the key, so the retry finds it and never pays the provider twice."""
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

    class Killed(BaseException):
        """The Lambda process ended: nothing catches it."""

    def die(self, data, result):
        raise Killed()

    body = {
        "source_image": f"{fake_aifaceswap.base_url}/a.png",
        "face_image": f"{fake_aifaceswap.base_url}/b.png",
    }
    headers = {"Idempotency-Key": "order-77"}
    with monkeypatch.context() as dying:
        dying.setattr(BasePersistenceLayer, "save_success", die)
        with pytest.raises(Killed):
            deployment.api("POST", SWAP, json_body=body, headers=headers)
    (job,) = deployment.jobs()

    assert deployment.api("POST", SWAP, json_body=body, headers=headers).status == 409  # still in progress
    expired = deployment.expire_idempotency()  # the dead invocation's time runs out
    again = deployment.api("POST", SWAP, json_body=body, headers=headers)

    assert expired == 1 and again.status == 202 and again.body["id"] == job["id"]
    assert len(deployment.jobs()) == 1
    assert len(fake_aifaceswap.requests_to("/api/aifaceswap/v1/faceswap")) == 1


def test_a_key_reused_for_another_request_after_its_day_is_another_job(deployment, fake_aifaceswap):
    """The job id comes from the key and the request together: once the key's record has expired
    (24 h), the same request under it still finds its job, another request makes a new one."""
    first = {
        "source_image": f"{fake_aifaceswap.base_url}/a.png",
        "face_image": f"{fake_aifaceswap.base_url}/b.png",
    }
    other = {**first, "face_image": f"{fake_aifaceswap.base_url}/c.png"}
    headers = {"Idempotency-Key": "order-88"}
    made = deployment.api("POST", SWAP, json_body=first, headers=headers)
    assert deployment.api("POST", SWAP, json_body=other, headers=headers).status == 422  # within the day

    assert deployment.expire_idempotency(in_progress=False) == 1
    same = deployment.api("POST", SWAP, json_body=first, headers=headers)
    assert deployment.expire_idempotency(in_progress=False) == 1
    new = deployment.api("POST", SWAP, json_body=other, headers=headers)

    assert made.status == same.status == new.status == 202
    assert same.body["id"] == made.body["id"] != new.body["id"]
    assert len(fake_aifaceswap.requests_to("/api/aifaceswap/v1/faceswap")) == 2
