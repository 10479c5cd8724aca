"""swapgate.poller against infra/poller.asl.json: the keys the module writes (execution input, poll
answer) are exactly the ones the machine's paths read, and what the Task states send is exactly what
the module parses. So neither side can gain, lose or rename a key alone."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import pytest
from support import ROOT
from swapgate import poller
from swapgate.errors import JobNotFound
from swapgate.jobs import Job, JobStatus
from swapgate_dev.local.cfn import load_template

INPUT_STATES = ("InitialWait",)  # read only the execution input: the first Poll replaces the state
SETTINGS = poller.PollSettings(
    initial_seconds=60, interval_seconds=30, max_interval_seconds=300, timeout_seconds=1800
)


@pytest.fixture(scope="module")
def states() -> dict[str, dict]:
    return json.loads((ROOT / poller.ASL_PATH).read_text())["States"]


def reads(state: dict) -> set[str]:
    """The state's top-level keys a state's paths read (``$.key``; ``$$`` is the context, ResultPath writes)."""
    found: set[str] = set()

    def visit(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                visit(value, name)
        elif isinstance(node, list):
            for value in node:
                visit(value, key)
        elif isinstance(node, str) and node.startswith("$.") and key not in ("ResultPath", "Comment"):
            assert key.endswith(("Path", ".$")) or key == "Variable", key
            found.add(node.removeprefix("$.").split(".")[0])

    visit(state)
    return found


#: the context object's values the Task states read (``$$.`` paths)
CONTEXT = {"$$.Execution.StartTime": "2026-01-15T10:20:30.123Z"}


def send(parameters: dict, state: dict) -> dict:
    """What a Task's Parameters send the function, run on ``state`` (and the context object)."""

    def value(path: str):
        return CONTEXT[path] if path.startswith("$$.") else state[path.removeprefix("$.")]

    return {
        name.removesuffix(".$"): value(path) if name.endswith(".$") else path
        for name, path in parameters.items()
    }


def execution_input() -> dict:
    return asdict(poller.ExecutionInput.for_job("job-1", SETTINGS, time.time()))


class Target:
    """The use cases, answering with a job in ``status``."""

    def __init__(self, status: JobStatus) -> None:
        self.status = status

    def poll_job(self, job_id: str) -> Job:
        return Job(id=job_id, provider="local", operation="swap", status=self.status)

    time_out = poll_job


def poll_answer(event: dict, status: JobStatus = JobStatus.RUNNING) -> dict:
    task = poller.parse_task(event)
    return task.answer(task.run(Target(status)))


def test_the_template_deploys_the_named_asl_file():
    machine = load_template(ROOT / "template.yaml")["Resources"]["PollerStateMachine"]["Properties"]
    assert machine["DefinitionUri"] == poller.ASL_PATH


def test_the_named_task_states_are_the_ones_that_call_the_function(states):
    tasks = {name for name, state in states.items() if state["Type"] == "Task"}
    assert tasks == {poller.POLL_STATE, poller.TIME_OUT_STATE}
    assert states[poller.POLL_STATE]["Parameters"]["action"] == poller.POLL
    assert states[poller.TIME_OUT_STATE]["Parameters"]["action"] == poller.TIME_OUT


def test_the_execution_input_is_exactly_what_the_machine_reads_before_the_first_answer(states):
    first = set().union(*(reads(states[name]) for name in (*INPUT_STATES, poller.POLL_STATE)))
    assert set(execution_input()) == first
    # a first poll that fails past its retries goes on with the input (plus poll_error)
    after_error = set().union(*(reads(state) for name, state in states.items() if name not in INPUT_STATES))
    assert after_error - {"terminal", "expired"} <= set(execution_input())


def test_the_poll_answer_is_exactly_what_the_machine_reads_after_it(states):
    after = set().union(*(reads(state) for name, state in states.items() if name not in INPUT_STATES))
    event = send(states[poller.POLL_STATE]["Parameters"], execution_input())
    for status in (JobStatus.RUNNING, JobStatus.SUCCEEDED):
        # status is the execution's output, for people; no state reads it
        assert set(poll_answer(event, status)) == after | {"status"}


def test_poll_sends_exactly_the_task_the_module_parses(states):
    parameters = states[poller.POLL_STATE]["Parameters"]
    first = send(parameters, execution_input())
    task = poller.parse_task(first)
    assert isinstance(task, poller.PollTask)
    assert asdict(task) == first
    later = send(parameters, poll_answer(first))  # the answer replaced the state
    assert asdict(poller.parse_task(later)) == later


def test_mark_timed_out_sends_exactly_the_task_the_module_parses(states):
    event = send(states[poller.TIME_OUT_STATE]["Parameters"], execution_input())
    task = poller.parse_task(event)
    assert isinstance(task, poller.TimeOutTask)
    assert asdict(task) == event
    assert task.answer(task.run(Target(JobStatus.TIMED_OUT))) == {
        "job_id": "job-1",
        "status": "timed_out",
        "terminal": True,
        "expired": True,
    }


@pytest.mark.parametrize("name", ["poll_task.json", "poll_time_out.json"])
def test_the_sample_events_are_tasks_the_module_parses(name):
    event = json.loads((ROOT / "tests" / "events" / name).read_text())
    assert asdict(poller.parse_task(event)) == event


def test_the_execution_input_deadline_in_both_forms():
    started = poller.ExecutionInput.for_job("job-1", SETTINGS, 1768472430.7)
    assert started.deadline == 1768472430 + 1800
    assert started.deadline_at == "2026-01-15T10:50:30Z"


@pytest.mark.parametrize(
    ("interval", "cap", "grown"), [(30, 300, 60), (200, 300, 300), (300, 300, 300), (1, 0, 1), (0, 300, 0)]
)
def test_the_interval_doubles_up_to_its_cap(interval, cap, grown):
    assert poller.next_interval(interval, cap) == grown


def test_the_answer_says_expired_only_for_a_running_job_past_its_deadline():
    event = {"action": "poll", "job_id": "job-1", "interval_seconds": 30, "max_interval_seconds": 300}
    past, future = int(time.time()) - 1, int(time.time()) + 60
    assert poll_answer({**event, "deadline": past})["expired"] is True
    assert poll_answer({**event, "deadline": future})["expired"] is False
    finished = poll_answer({**event, "deadline": past}, JobStatus.SUCCEEDED)
    assert finished["terminal"] is True and finished["expired"] is False
    assert finished["interval_seconds"] == 60
    assert finished["deadline_at"] is None  # events from before deadline_at existed still poll


@pytest.mark.parametrize(
    ("asked", "timeout", "initial"), [(None, 1800, 60), (300, 300, 60), (30, 30, 30), (7200, 1800, 60)]
)
def test_a_clients_deadline_shortens_the_timeout_and_the_first_wait(asked, timeout, initial):
    started = poller.ExecutionInput.for_job("job-1", SETTINGS, 1768472430.7, asked)
    assert started.deadline == 1768472430 + timeout
    assert started.initial_seconds == initial


def test_the_next_wait_never_passes_the_deadline():
    event = {"action": "poll", "job_id": "job-1", "interval_seconds": 200, "max_interval_seconds": 300}
    soon = int(time.time()) + 45
    assert 44 <= poll_answer({**event, "deadline": soon})["interval_seconds"] <= 45
    assert poll_answer({**event, "deadline": soon + 3600})["interval_seconds"] == 300
    assert poll_answer({**event, "deadline": soon}, JobStatus.SUCCEEDED)["interval_seconds"] == 300
    passed = poll_answer({**event, "deadline": int(time.time()) - 5})
    assert passed["expired"] is True and passed["interval_seconds"] == 1


def test_a_job_without_a_record_ends_the_execution_once_the_grace_has_passed():
    """Submit starts the execution before it creates the job record: a poll that finds no record
    keeps polling while the record may still come, then ends the execution."""

    class Missing:
        def poll_job(self, job_id: str) -> Job:
            raise JobNotFound(job_id)

        time_out = poll_job

    def started(seconds_ago: float) -> str:
        moment = datetime.fromtimestamp(time.time() - seconds_ago, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    event = {
        "action": "poll",
        "job_id": "job-1",
        "interval_seconds": 30,
        "max_interval_seconds": 300,
        "deadline": int(time.time()) + 1800,
        "deadline_at": "2100-01-01T00:00:00Z",
    }
    grace = poller.RECORD_GRACE_SECONDS
    for seconds_ago, terminal in ((1, False), (grace - 5, False), (grace + 1, True)):
        task = poller.parse_task({**event, "started_at": started(seconds_ago)})
        answer = task.answer(task.run(Missing()))
        assert (answer["status"], answer["terminal"], answer["expired"]) == ("gone", terminal, False)
    # events without started_at (sent before it existed) end at once; so does an unreadable one
    for started_at in (None, "yesterday"):
        task = poller.parse_task({**event, "started_at": started_at})
        assert task.answer(task.run(Missing()))["terminal"] is True
    # the deadline's time-out of a job without a record ends the execution too
    task = poller.parse_task({"action": "time_out", "job_id": "job-1"})
    assert task.answer(task.run(Missing())) == {
        "job_id": "job-1",
        "status": "gone",
        "terminal": True,
        "expired": True,
    }
