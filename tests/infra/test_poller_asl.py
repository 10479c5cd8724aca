"""infra/poller.asl.json: its states and transitions as the poller contract fixes them, and the file
itself executed by moto's Step Functions interpreter (test_poller_contract.py holds its keys against
swapgate.poller).

The executions here run the real ASL file; the Lambda task is a scripted stand-in that returns what
the contract allows, so that each transition is driven on purpose (the gateway tests run the same file
against the real poll handler). Moto with ``lambda.use_docker = False`` never runs function code: its
``LambdaSimpleBackend.invoke`` echoes the payload back, so the stand-in is installed there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from support import ROOT

ASL = ROOT / "infra" / "poller.asl.json"
REGION = "us-east-1"
POLL_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:swapgate-poll"
LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.TaskFailed",
]


@pytest.fixture(scope="module")
def definition() -> dict:
    return json.loads(ASL.read_text())


# ----------------------------------------------------------------------------- the file


def test_comment_states_the_contract(definition):
    comment = definition["Comment"]
    assert "safety net" in comment
    for word in (
        "job_id",
        "initial_seconds",
        "interval_seconds",
        "max_interval_seconds",
        "deadline",
        "deadline_at",
    ):
        assert word in comment
    for word in (
        "status",
        "terminal",
        "expired",
        "time_out",
        "poll_error",
        "AfterPollError",
        "started_at",
        "time_out_error",
        "RetryTimeOut",
    ):
        assert word in comment
    assert "Poller contract" in (ROOT / "docs" / "ARCHITECTURE.md").read_text()


def test_states_and_transitions(definition):
    states = definition["States"]
    assert definition["StartAt"] == "InitialWait"
    assert set(states) == {
        "InitialWait",
        "Poll",
        "IsDone",
        "WaitAgain",
        "AfterPollError",
        "MarkTimedOut",
        "RetryTimeOut",
        "TimedOut",
        "Done",
    }
    assert states["InitialWait"] == {
        "Type": "Wait",
        "SecondsPath": "$.initial_seconds",
        "Next": "Poll",
        "Comment": states["InitialWait"].get("Comment"),
    }
    poll = states["Poll"]
    assert poll["Type"] == "Task"
    assert poll["Resource"] == "${PollFunctionArn}"
    assert poll["Parameters"] == {
        "action": "poll",
        "job_id.$": "$.job_id",
        "interval_seconds.$": "$.interval_seconds",
        "max_interval_seconds.$": "$.max_interval_seconds",
        "deadline.$": "$.deadline",
        "deadline_at.$": "$.deadline_at",
        # lets the function end an execution whose job record was never created
        "started_at.$": "$$.Execution.StartTime",
    }
    assert poll["Next"] == "IsDone"
    # The function's answer replaces the state: nothing may narrow or redirect it.
    for key in ("ResultPath", "OutputPath", "ResultSelector", "InputPath"):
        assert key not in poll
    # A poll that still fails after its retries keeps the state (the error goes beside it) and is judged
    # against the deadline, so the execution never fails with the job still running.
    assert poll["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.poll_error", "Next": "AfterPollError"}
    ]
    assert states["AfterPollError"] == {
        "Type": "Choice",
        "Comment": states["AfterPollError"].get("Comment"),
        "Choices": [
            {
                "Variable": "$$.State.EnteredTime",
                "StringGreaterThanEqualsPath": "$.deadline_at",
                "Next": "MarkTimedOut",
            }
        ],
        "Default": "WaitAgain",
    }

    is_done = states["IsDone"]
    assert is_done["Type"] == "Choice"
    assert is_done["Choices"] == [
        {"Variable": "$.terminal", "BooleanEquals": True, "Next": "Done"},
        {"Variable": "$.expired", "BooleanEquals": True, "Next": "MarkTimedOut"},
    ]
    assert is_done["Default"] == "WaitAgain"
    assert states["WaitAgain"] == {"Type": "Wait", "SecondsPath": "$.interval_seconds", "Next": "Poll"}

    mark = states["MarkTimedOut"]
    assert mark["Type"] == "Task"
    assert mark["Resource"] == "${PollFunctionArn}"
    assert mark["Parameters"] == {"action": "time_out", "job_id.$": "$.job_id"}
    assert mark["Next"] == "TimedOut"
    # Every Task catches: a MarkTimedOut that keeps failing waits and tries again, so the execution
    # never ends with the job still running.
    assert mark["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.time_out_error", "Next": "RetryTimeOut"}
    ]
    assert states["RetryTimeOut"] == {
        "Type": "Wait",
        "Comment": states["RetryTimeOut"].get("Comment"),
        "SecondsPath": "$.interval_seconds",
        "Next": "MarkTimedOut",
    }
    for name, state in states.items():
        if state["Type"] == "Task":
            assert [catch["ErrorEquals"] for catch in state["Catch"]] == [["States.ALL"]], name
    assert states["TimedOut"]["Type"] == "Fail"
    assert states["TimedOut"]["Error"] == "JobTimedOut"
    assert states["Done"] == {"Type": "Succeed"}


@pytest.mark.parametrize("state", ["Poll", "MarkTimedOut"])
def test_lambda_errors_are_retried_with_backoff(definition, state):
    (retry,) = definition["States"][state]["Retry"]
    assert retry == {"ErrorEquals": LAMBDA_ERRORS, "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 2}


def test_every_state_is_reachable_and_every_target_exists(definition):
    states = definition["States"]

    def targets(state: dict) -> set[str]:
        found = {state[key] for key in ("Next", "Default") if key in state}
        found |= {choice["Next"] for choice in state.get("Choices", [])}
        found |= {catch["Next"] for catch in state.get("Catch", [])}
        return found

    for name, state in states.items():
        assert targets(state) <= set(states), name
        if state["Type"] not in ("Succeed", "Fail", "Choice"):
            assert "Next" in state or state.get("End") is True, name
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(targets(states[name]))
    assert seen == set(states)


# ----------------------------------------------------------------------------- executed by moto


Script = Callable[[dict], dict]


@pytest.fixture
def lambda_calls(monkeypatch) -> Iterator[tuple[list[dict], Callable[[Script], None]]]:
    """Routes moto's Lambda invocations (both Task forms call lambda:Invoke) to a script."""
    calls: list[dict] = []
    script: list[Script] = []

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        assert function_name in (POLL_ARN, "swapgate-poll")
        event = json.loads(body)
        calls.append(event)
        try:
            return json.dumps(script[0](event)).encode()
        except Exception as error:  # reported the way Lambda reports an unhandled error
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        yield calls, script.append


def iso(epoch: int) -> str:
    """``deadline_at`` as submit writes it."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(job_id: str, **overrides) -> dict:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition = ASL.read_text().replace("${PollFunctionArn}", POLL_ARN)
    machine = sfn.create_state_machine(
        name="poller", definition=definition, roleArn="arn:aws:iam::123456789012:role/poller"
    )["stateMachineArn"]
    execution_input = {
        "job_id": job_id,
        "initial_seconds": 0,
        "interval_seconds": 0,
        "max_interval_seconds": 0,
        "deadline": int(time.time()) + 3600,
        **overrides,
    }
    execution_input.setdefault("deadline_at", iso(execution_input["deadline"]))
    execution = sfn.start_execution(stateMachineArn=machine, name=job_id, input=json.dumps(execution_input))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
            described["entered"] = [
                event["stateEnteredEventDetails"]["name"]
                for event in history
                if "stateEnteredEventDetails" in event
            ]
            described["inputs"] = [  # (state, its input) in the order they were entered
                (
                    event["stateEnteredEventDetails"]["name"],
                    json.loads(event["stateEnteredEventDetails"]["input"]),
                )
                for event in history
                if "stateEnteredEventDetails" in event
            ]
            return described
        time.sleep(0.02)
    raise AssertionError("the execution did not end within 30 s")


def answer(event: dict, status: str, *, terminal: bool = False, expired: bool = False) -> dict:
    return {
        "job_id": event["job_id"],
        "status": status,
        "terminal": terminal,
        "expired": expired,
        "interval_seconds": event["interval_seconds"],
        "max_interval_seconds": event["max_interval_seconds"],
        "deadline": event["deadline"],
        "deadline_at": event["deadline_at"],
    }


def test_pending_pending_then_terminal_succeeds(lambda_calls):
    calls, set_script = lambda_calls

    def script(event: dict) -> dict:
        done = len(calls) >= 3
        return answer(event, "succeeded" if done else "running", terminal=done)

    set_script(script)
    result = run("job-pending", interval_seconds=0, max_interval_seconds=0, deadline=4102444800)
    assert result["status"] == "SUCCEEDED"
    assert [call["action"] for call in calls] == ["poll", "poll", "poll"]
    started_at = calls[0].pop("started_at")
    assert calls[0] == {
        "action": "poll",
        "job_id": "job-pending",
        "interval_seconds": 0,
        "max_interval_seconds": 0,
        "deadline": 4102444800,
        "deadline_at": "2100-01-01T00:00:00Z",
    }
    # the execution's start from the context object, the same on every poll
    assert abs(datetime.fromisoformat(started_at.replace("Z", "+00:00")).timestamp() - time.time()) < 60
    assert {call["started_at"] for call in calls[1:]} == {started_at}
    assert json.loads(result["output"])["status"] == "succeeded"
    assert result["entered"] == [
        "InitialWait",
        *["Poll", "IsDone", "WaitAgain"] * 2,
        "Poll",
        "IsDone",
        "Done",
    ]


def test_the_function_answer_replaces_the_state(lambda_calls):
    """The interval the function grows is the one the next poll (and WaitAgain) gets."""
    calls, set_script = lambda_calls

    def script(event: dict) -> dict:
        reply = answer(event, "running", terminal=len(calls) >= 2)
        reply["interval_seconds"] = 0 if len(calls) >= 2 else 1  # WaitAgain waits 1 s once
        reply["marker"] = len(calls)
        return reply

    set_script(script)
    result = run("job-grow", interval_seconds=0)
    assert result["status"] == "SUCCEEDED"
    assert calls[1]["interval_seconds"] == 1
    assert "marker" not in calls[1]  # Parameters pass only the contract's keys
    assert json.loads(result["output"])["marker"] == 2


def test_deadline_marks_the_job_timed_out_and_fails(lambda_calls):
    calls, set_script = lambda_calls

    def script(event: dict) -> dict:
        if event["action"] == "time_out":
            return {"job_id": event["job_id"], "status": "timed_out", "terminal": True, "expired": True}
        return answer(event, "running", expired=len(calls) >= 2)

    set_script(script)
    result = run("job-late")
    assert result["status"] == "FAILED"
    assert result["error"] == "JobTimedOut"
    assert calls[-1] == {"action": "time_out", "job_id": "job-late"}
    assert [call["action"] for call in calls] == ["poll", "poll", "time_out"]
    assert result["entered"][-3:] == ["IsDone", "MarkTimedOut", "TimedOut"]


def test_a_failing_poll_is_retried(lambda_calls):
    """One unhandled error: retried after IntervalSeconds (1 s), then the job ends."""
    calls, set_script = lambda_calls

    def script(event: dict) -> dict:
        if len(calls) == 1:
            raise RuntimeError("provider fetch failed")
        return answer(event, "succeeded", terminal=True)

    set_script(script)
    result = run("job-flaky")
    assert result["status"] == "SUCCEEDED"
    assert len(calls) == 2
    assert calls[0] == calls[1]
    assert result["entered"] == ["InitialWait", "Poll", "IsDone", "Done"]


def test_a_poll_failing_past_its_retries_before_the_deadline_polls_again(lambda_calls):
    """Every attempt of the first poll fails (1 + 2 retries): caught, the deadline is an hour away, so
    the machine waits and polls again; the function has recovered and the job ends."""
    calls, set_script = lambda_calls

    def script(event: dict) -> dict:
        if len(calls) <= 3:
            raise RuntimeError("ProvisionedThroughputExceededException")
        return answer(event, "succeeded", terminal=True)

    set_script(script)
    result = run("job-throttled")
    assert result["status"] == "SUCCEEDED"
    assert result["entered"] == [
        "InitialWait",
        "Poll",
        "AfterPollError",
        "WaitAgain",
        "Poll",
        "IsDone",
        "Done",
    ]
    assert len(calls) == 4
    assert calls[0] == calls[1] == calls[2] == calls[3]  # the retry and the new poll send the same contract
    assert "poll_error" not in calls[3]
    _, after_error = result["inputs"][2]
    assert after_error["poll_error"]["Error"] == "RuntimeError"
    assert "ProvisionedThroughputExceededException" in after_error["poll_error"]["Cause"]
    sent_only = ("action", "started_at")  # started_at comes from the context object, not the state
    kept = {key: after_error[key] for key in calls[0] if key not in sent_only}
    assert kept == {key: value for key, value in calls[0].items() if key not in sent_only}
    assert json.loads(result["output"])["status"] == "succeeded"


def test_a_poll_failing_past_its_retries_after_the_deadline_times_the_job_out(lambda_calls):
    """The same failures once the deadline (a second ago) has passed: the job is marked timed_out."""
    calls, set_script = lambda_calls

    def script(event: dict) -> dict:
        if event["action"] == "time_out":
            return {"job_id": event["job_id"], "status": "timed_out", "terminal": True, "expired": True}
        raise RuntimeError("poll handler bug")

    set_script(script)
    result = run("job-broken", deadline=int(time.time()) - 1)
    assert result["status"] == "FAILED"
    assert result["error"] == "JobTimedOut"
    assert result["entered"] == ["InitialWait", "Poll", "AfterPollError", "MarkTimedOut", "TimedOut"]
    assert [call["action"] for call in calls] == ["poll", "poll", "poll", "time_out"]
    assert calls[-1] == {"action": "time_out", "job_id": "job-broken"}


def test_a_time_out_failing_past_its_retries_waits_and_tries_again(lambda_calls):
    """The deadline has passed and MarkTimedOut fails on every attempt of its first round (1 + 2
    retries, e.g. DynamoDB throttling): the Catch sends it to RetryTimeOut, which waits the poll
    interval, and MarkTimedOut tries again until the job is marked; the execution never ends with
    the job still running."""
    calls, set_script = lambda_calls

    def script(event: dict) -> dict:
        if event["action"] == "poll":
            return answer(event, "running", expired=True)
        if sum(call["action"] == "time_out" for call in calls) <= 3:
            raise RuntimeError("ProvisionedThroughputExceededException")
        return {"job_id": event["job_id"], "status": "timed_out", "terminal": True, "expired": True}

    set_script(script)
    result = run("job-stubborn", deadline=int(time.time()) - 1)
    assert result["status"] == "FAILED"
    assert result["error"] == "JobTimedOut"
    assert result["entered"] == [
        "InitialWait",
        "Poll",
        "IsDone",
        "MarkTimedOut",
        "RetryTimeOut",
        "MarkTimedOut",
        "TimedOut",
    ]
    assert [call["action"] for call in calls] == ["poll"] + ["time_out"] * 4
    assert all(call == {"action": "time_out", "job_id": "job-stubborn"} for call in calls[1:])
    _, waiting = result["inputs"][4]  # RetryTimeOut's input: the state, the error beside it
    assert waiting["time_out_error"]["Error"] == "RuntimeError"
    assert "ProvisionedThroughputExceededException" in waiting["time_out_error"]["Cause"]
    assert waiting["interval_seconds"] == 0 and waiting["job_id"] == "job-stubborn"


def test_a_time_out_that_keeps_failing_keeps_the_execution_running(lambda_calls):
    """MarkTimedOut that never succeeds: the execution does not fail (it would leave the job
    running); it goes round RetryTimeOut until it succeeds or someone stops it."""
    calls, set_script = lambda_calls

    def script(event: dict) -> dict:
        if event["action"] == "poll":
            return answer(event, "running", expired=True)
        raise RuntimeError("poll handler bug")

    set_script(script)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition = ASL.read_text().replace("${PollFunctionArn}", POLL_ARN)
    machine = sfn.create_state_machine(
        name="poller", definition=definition, roleArn="arn:aws:iam::123456789012:role/poller"
    )["stateMachineArn"]
    deadline = int(time.time()) - 1
    execution = sfn.start_execution(
        stateMachineArn=machine,
        name="job-never",
        input=json.dumps(
            {
                "job_id": "job-never",
                "initial_seconds": 0,
                "interval_seconds": 0,
                "max_interval_seconds": 0,
                "deadline": deadline,
                "deadline_at": iso(deadline),
            }
        ),
    )["executionArn"]
    waited = time.monotonic() + 30
    while sum(call["action"] == "time_out" for call in calls) < 6 and time.monotonic() < waited:
        time.sleep(0.05)
    assert sum(call["action"] == "time_out" for call in calls) >= 6  # two rounds of 1 + 2 retries
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sfn.stop_execution(executionArn=execution)
