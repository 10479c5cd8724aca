"""The poller: the real infra/poller.asl.json executed by moto's Step Functions interpreter, its Lambda
task invocations routed to the real poll handler. Waits are set to 0 through the execution input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.awslambda_simple.models import LambdaSimpleBackend
from support.stepfunctions import wait_for_end
from swapgate_dev.local.cfn import load_template

ROOT = Path(__file__).resolve().parents[2]

POLL_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:swapgate-poll"


@pytest.fixture
def poller(deployment, monkeypatch):
    """The state machine from the template's DefinitionUri + DefinitionSubstitutions; submit starts it."""
    invocations: list[dict] = []

    def invoke(backend, function_name, qualifier, body, headers, response_headers):
        event = json.loads(body)
        invocations.append(event)
        try:
            return json.dumps(deployment.poll(event)).encode()
        except Exception as exc:  # reported to Step Functions as the Lambda runtime would
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    machine = load_template(ROOT / "template.yaml")["Resources"]["PollerStateMachine"]["Properties"]
    definition = (ROOT / machine["DefinitionUri"]).read_text()
    for name in machine["DefinitionSubstitutions"]:
        definition = definition.replace("${" + name + "}", POLL_FUNCTION_ARN)
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="poller",
        definition=definition,
        roleArn="arn:aws:iam::123456789012:role/sfn",
        type=machine["Type"],
    )["stateMachineArn"]
    for name, value in {
        "SWAPGATE_STATE_MACHINE_ARN": arn,
        "SWAPGATE_POLL_INITIAL_SECONDS": "0",
        "SWAPGATE_POLL_INTERVAL_SECONDS": "0",
        "SWAPGATE_POLL_MAX_INTERVAL_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    deployment.reload()  # the functions read the poller settings at start
    return type("Poller", (), {"sfn": sfn, "arn": arn, "invocations": invocations})()


_wait_for_end = wait_for_end  # tests/gateway/test_faults.py imports it by this name


def _wait_for_event(sfn, execution_arn, event_type, timeout=10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = sfn.get_execution_history(executionArn=execution_arn)["events"]
        if any(event["type"] == event_type for event in events):
            return
        time.sleep(0.02)
    raise TimeoutError(f"no {event_type} after {timeout}s")


def _submit(deployment, fake, provider):
    job = deployment.job(deployment.submit_swap(fake, provider))
    assert job["execution_arn"].endswith(":" + job["id"])  # the execution is named after the job
    return job


def test_pending_pending_then_success_through_fetch(deployment, poller, fake_ttapi):
    # the webhook is lost; only fetch can tell. The job runs long enough for a poll function that
    # starts cold, under load, to find it pending at least twice.
    fake_ttapi.inject("no_webhook", delay=1.5)
    job = _submit(deployment, fake_ttapi, "ttapi")
    execution = wait_for_end(poller.sfn, job["execution_arn"])
    assert execution["status"] == "SUCCEEDED"
    polls = [event for event in poller.invocations if event["action"] == "poll"]
    assert len(polls) >= 3  # pending, pending, ..., success
    fetches = [r for r in fake_ttapi.requests if r.path == "/insightFace/v1/fetch"]
    # with 0 s waits the first poll can run before submit has recorded the provider's job id; that
    # poll only reads the record. Every later one asks the provider.
    assert len(polls) - 1 <= len(fetches) <= len(polls)
    record = deployment.job(job["id"])
    assert record["status"] == "succeeded"
    assert deployment.keys("results/") == [f"results/{job['id']}.png"]
    assert deployment.callbacks.received == []


def test_webhook_first_then_the_poller_only_confirms(deployment, poller, fake_aifaceswap, monkeypatch):
    monkeypatch.setenv("SWAPGATE_POLL_INITIAL_SECONDS", "1")
    deployment.reload()
    job = _submit(deployment, fake_aifaceswap, "aifaceswap")
    (callback,) = deployment.deliver_callbacks(1)
    assert callback.body["status"] == "succeeded"
    execution = wait_for_end(poller.sfn, job["execution_arn"])
    assert execution["status"] == "SUCCEEDED"
    assert [event["action"] for event in poller.invocations] == ["poll"]
    history = poller.sfn.get_execution_history(executionArn=job["execution_arn"])["events"]
    assert len(history) <= 16  # a handful of transitions for a job its webhook finished


def test_provider_failed_ends_the_job_failed(deployment, poller, fake_ttapi):
    fake_ttapi.inject("job_failed", message="insufficient quota", delay=0.2)
    fake_ttapi.inject("no_webhook", delay=0.2)
    job = _submit(deployment, fake_ttapi, "ttapi")
    execution = wait_for_end(poller.sfn, job["execution_arn"])
    assert execution["status"] == "SUCCEEDED"
    record = deployment.job(job["id"])
    assert record["status"] == "failed"
    assert record["error_code"] == "provider_quota_exhausted"
    assert "insufficient quota" in record["error_message"]


def test_deadline_reached_marks_timed_out(deployment, poller, fake_aifaceswap, monkeypatch):
    monkeypatch.setenv("SWAPGATE_JOB_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("SWAPGATE_POLL_INTERVAL_SECONDS", "1")
    deployment.reload()
    fake_aifaceswap.inject("no_webhook")
    job = _submit(deployment, fake_aifaceswap, "aifaceswap")
    execution = wait_for_end(poller.sfn, job["execution_arn"])
    assert execution["status"] == "FAILED"
    assert execution.get("error") == "JobTimedOut"
    assert deployment.job(job["id"])["status"] == "timed_out"
    assert poller.invocations[-1] == {"action": "time_out", "job_id": job["id"]}


def test_fetch_errors_then_success(deployment, poller, fake_ttapi):
    fake_ttapi.inject("no_webhook", delay=0.3)
    fake_ttapi.inject("server_error", times=3, path="/insightFace/v1/fetch")
    job = _submit(deployment, fake_ttapi, "ttapi")
    execution = wait_for_end(poller.sfn, job["execution_arn"])
    assert execution["status"] == "SUCCEEDED"
    statuses = [r for r in fake_ttapi.requests if r.path == "/insightFace/v1/fetch"]
    assert len(statuses) >= 4
    assert deployment.job(job["id"])["status"] == "succeeded"


def test_webhook_and_poller_racing_make_one_transition_and_one_object(deployment, poller, fake_ttapi):
    job = _submit(deployment, fake_ttapi, "ttapi")
    (callback,) = deployment.deliver_callbacks(1)
    execution = wait_for_end(poller.sfn, job["execution_arn"])
    assert execution["status"] == "SUCCEEDED" and callback.status == 200
    versions = deployment.s3.list_object_versions(Bucket="swapgate-test", Prefix="results/").get(
        "Versions", []
    )
    assert len(versions) == 1
    assert deployment.job(job["id"])["status"] == "succeeded"


def test_cancel_stops_the_poller(deployment, poller, fake_aifaceswap, monkeypatch):
    monkeypatch.setenv("SWAPGATE_POLL_INITIAL_SECONDS", "30")
    deployment.reload()
    fake_aifaceswap.inject("no_webhook")
    job = _submit(deployment, fake_aifaceswap, "aifaceswap")
    _wait_for_event(poller.sfn, job["execution_arn"], "WaitStateEntered")  # the poller sits in its first wait
    answer = deployment.api("POST", f"/v1/swaps/{job['id']}/cancel", resource="/v1/swaps/{id}/cancel")
    assert answer.body["status"] == "canceled"
    execution = wait_for_end(poller.sfn, job["execution_arn"])
    assert execution["status"] == "ABORTED"
    assert poller.invocations == []


def test_poll_handler_failing_past_its_retries_then_the_job_still_ends(deployment, poller, fake_ttapi):
    """DynamoDB throttles the poll function's reads for its first 3 invocations (the first poll and both
    of its retries): the Catch sends the execution through AfterPollError (deadline far away) back to
    WaitAgain and Poll, and the job, whose webhook is lost, still ends succeeded through fetch."""
    throttled: list[str] = []

    def throttle(params, **_):
        if len(throttled) < 3:
            throttled.append(json.loads(params["body"])["Key"]["id"]["S"])
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}},
                "GetItem",
            )

    # The poll function's own DynamoDB client (one per execution environment); the API's is another.
    client = deployment.poll_module.gateway().store.table.meta.client
    client.meta.events.register("before-call.dynamodb.GetItem", throttle)
    fake_ttapi.inject("no_webhook", delay=0.5)
    job = _submit(deployment, fake_ttapi, "ttapi")
    execution = wait_for_end(poller.sfn, job["execution_arn"])
    assert execution["status"] == "SUCCEEDED"
    assert throttled == [job["id"]] * 3

    history = poller.sfn.get_execution_history(executionArn=job["execution_arn"])["events"]
    failures = [event for event in history if event["type"] == "LambdaFunctionFailed"]
    assert len(failures) == 3
    assert failures[-1]["lambdaFunctionFailedEventDetails"]["error"] == "ClientError"
    entered = [
        event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event
    ]
    assert entered[:4] == ["InitialWait", "Poll", "AfterPollError", "WaitAgain"]
    assert entered[-2:] == ["IsDone", "Done"]
    polls = [event for event in poller.invocations if event["action"] == "poll"]
    assert polls[0]["deadline_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(polls[0]["deadline"]))
    assert all(poll == polls[0] for poll in polls)  # intervals are 0: every poll sends the same contract
    fetches = [r for r in fake_ttapi.requests if r.path == "/insightFace/v1/fetch"]
    assert len(fetches) == len(polls) - 3  # the throttled polls never reached the provider
    record = deployment.job(job["id"])
    assert record["status"] == "succeeded"
    assert deployment.keys("results/") == [f"results/{job['id']}.png"]


def _submit_with(deployment, fake, cancel_after: str) -> dict:
    body = {"source_image": f"{fake.base_url}/a.png", "face_image": f"{fake.base_url}/b.png"}
    answer = deployment.api("POST", "/v1/swaps", json_body=body, headers={"Cancel-After": cancel_after})
    assert answer.status == 202, answer.body
    return deployment.job(answer.body["id"])


@pytest.mark.parametrize(("cancel_after", "seconds"), [("5m", 300), ("90", 90), ("2h", 1800)])
def test_cancel_after_is_the_executions_deadline_capped_by_the_job_timeout(
    deployment, poller, fake_aifaceswap, monkeypatch, cancel_after, seconds
):
    monkeypatch.setenv("SWAPGATE_POLL_INITIAL_SECONDS", "600")  # the execution waits; nothing polls
    deployment.reload()
    fake_aifaceswap.inject("no_webhook")
    before = int(time.time())
    job = _submit_with(deployment, fake_aifaceswap, cancel_after)
    given = json.loads(poller.sfn.describe_execution(executionArn=job["execution_arn"])["input"])
    # cancel: the execution stops now, instead of waking up in a later test
    deployment.api("POST", f"/v1/swaps/{job['id']}/cancel", resource="/v1/swaps/{id}/cancel")
    assert wait_for_end(poller.sfn, job["execution_arn"])["status"] == "ABORTED"
    assert before + seconds <= given["deadline"] <= int(time.time()) + seconds
    assert given["initial_seconds"] == min(600, seconds)


def test_cancel_after_ends_the_job_timed_out_through_the_poller(
    deployment, poller, fake_aifaceswap, monkeypatch
):
    monkeypatch.setenv("SWAPGATE_POLL_INTERVAL_SECONDS", "1")
    deployment.reload()
    fake_aifaceswap.inject("no_webhook")
    started = time.monotonic()
    job = _submit_with(deployment, fake_aifaceswap, "2s")
    execution = wait_for_end(poller.sfn, job["execution_arn"])
    assert execution["status"] == "FAILED" and execution.get("error") == "JobTimedOut"
    record = deployment.job(job["id"])
    assert record["status"] == "timed_out" and record["error_code"] == "timed_out"
    assert time.monotonic() - started < 10  # the 1800 s job timeout did not apply
