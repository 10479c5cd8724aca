"""Local AWS: Lambda Invoke routed to the functions' execution environments, Step Functions running
them (timeouts and throttles as Lambda reports them), clean stop."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from moto.core.config import default_user_config
from support.stepfunctions import wait_for_end
from swapgate_dev.local.aws import MotoServer
from swapgate_dev.local.runtime import LambdaFunction

TASK_APP = Path(__file__).parent / "task_fn" / "app.py"


@pytest.fixture
def task(moto_server, aws):
    aws("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    function = LambdaFunction("task", TASK_APP)
    aws("lambda").create_function(
        FunctionName="task",
        Runtime="python3.13",
        Role="arn:aws:iam::123456789012:role/r",
        Handler="app.handler",
        Code={"ZipFile": b"not run"},
    )
    moto_server.router.register(function)
    yield function
    function.stop()


def test_invoke_runs_the_registered_handler(task, aws):
    response = aws("lambda").invoke(FunctionName=task.arn, Payload=json.dumps({"n": 41}))
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"n": 42, "function": "task"}


def test_a_raising_handler_is_a_function_error(task, aws):
    response = aws("lambda").invoke(FunctionName="task", Payload=json.dumps({"fail": True}))
    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "TaskRefused"
    assert payload["errorMessage"] == "asked to fail"


def test_unregistered_functions_are_left_to_moto(task, aws):
    response = aws("lambda").invoke(FunctionName="other", Payload=b'{"n": 1}')
    # moto's Docker-free backend answers (it echoes the payload); our handler did not run.
    assert json.loads(response["Payload"].read()) == {"n": 1}
    assert task.invocations == 0


def wait_for(sfn, execution_arn):
    return wait_for_end(sfn, execution_arn, timeout=30, interval=0.1)


def task_machine(sfn, task, name: str, fail: str, **task_fields) -> str:
    """A state machine of one Task state running ``task`` (with ``task_fields``: Retry, Catch), whose
    Catch may go to the Fail state ``fail``; its ARN."""
    definition = {
        "StartAt": "Add",
        "States": {
            "Add": {"Type": "Task", "Resource": task.arn, **task_fields, "End": True},
            fail: {"Type": "Fail", "Error": fail},
        },
    }
    return sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r"
    )["stateMachineArn"]


def test_step_functions_tasks_run_the_real_handler(task, aws):
    """moto's interpreter (execute_state_machine on in server mode) calls Invoke on this server."""
    sfn = aws("stepfunctions")
    machine = task_machine(
        sfn, task, "adder", "Refused", Catch=[{"ErrorEquals": ["TaskRefused"], "Next": "Refused"}]
    )
    done = wait_for(
        sfn, sfn.start_execution(stateMachineArn=machine, name="one", input='{"n": 1}')["executionArn"]
    )
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"n": 2, "function": "task"}
    failed = wait_for(
        sfn, sfn.start_execution(stateMachineArn=machine, name="two", input='{"fail": true}')["executionArn"]
    )
    assert failed["status"] == "FAILED"
    assert failed["error"] == "Refused"
    assert task.invocations == 2


def test_a_task_that_times_out_fails_with_sandbox_timedout_and_is_retried(task, aws):
    task.timeout_seconds = 1
    sfn = aws("stepfunctions")
    machine = task_machine(
        sfn,
        task,
        "sleeper",
        "GaveUp",
        Retry=[{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 1}],
        Catch=[{"ErrorEquals": ["States.ALL"], "Next": "GaveUp"}],
    )
    execution = sfn.start_execution(stateMachineArn=machine, input='{"n": 1, "sleep": 30}')["executionArn"]
    done = wait_for(sfn, execution)
    assert (done["status"], done["error"]) == ("FAILED", "GaveUp")
    history = sfn.get_execution_history(executionArn=execution)["events"]
    failures = [
        event["lambdaFunctionFailedEventDetails"]
        for event in history
        if event["type"] == "LambdaFunctionFailed"
    ]
    assert [failure["error"] for failure in failures] == ["Sandbox.Timedout"] * 2  # tried, then retried once
    assert "Task timed out after 1.00 seconds" in failures[0]["cause"]
    assert task.cold_starts == 2  # each timeout replaced the environment


def test_a_throttled_function_answers_429(task, aws):
    task.reserved_concurrency = 0  # ReservedConcurrentExecutions: 0
    with pytest.raises(ClientError) as caught:
        aws("lambda").invoke(FunctionName="task", Payload=b'{"n": 1}')
    assert caught.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_stop_frees_the_port_and_restores_moto_config():
    before = json.dumps(default_user_config.get("stepfunctions"))
    server = MotoServer("127.0.0.1", 0)
    server.start()
    port = server.port
    assert default_user_config["stepfunctions"] == {"execute_state_machine": True}
    server.stop()
    assert json.dumps(default_user_config.get("stepfunctions")) == before
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds
        probe.bind(("127.0.0.1", port))  # free again


def test_a_busy_port_is_an_error_not_a_hang():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MotoServer("127.0.0.1", taken.getsockname()[1])
        with pytest.raises(OSError, match="cannot listen"):
            server.start()
        server.stop()  # harmless after a failed start
