"""Execution environments as Lambda runs them: a process each, one event at a time, warm reuse, cold
starts up to the concurrency limit, throttling, timeouts that replace the environment, own log keys."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from swapgate_dev.local import provision
from swapgate_dev.local.environments import Launcher
from swapgate_dev.local.functions import build_functions
from swapgate_dev.local.runtime import (
    DEFAULT_CONCURRENCY,
    CallerTimeout,
    FunctionTimeout,
    HandlerError,
    LambdaContext,
    LambdaFunction,
    TooManyRequests,
)
from swapgate_dev.local.sam import SamTemplate

LOG_APP = Path(__file__).parent / "log_fn" / "app.py"
TEST_TEMPLATE = Path(__file__).parent / "template.yaml"


class Lines:
    """A launcher sink: the environments' output, line by line."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, text: str) -> None:
        with self._lock:
            self._lines.extend(text.splitlines())

    def records(self) -> list[dict]:
        with self._lock:
            lines = list(self._lines)
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture
def lines():
    return Lines()


@pytest.fixture
def launcher(lines):
    launcher = Launcher(sink=lines).start()
    yield launcher
    launcher.stop()


def log_function(launcher, **kwargs) -> LambdaFunction:
    return LambdaFunction("log-fn", LOG_APP, launcher=launcher, **kwargs)


def invoke_all(function: LambdaFunction, events: list[dict]) -> list:
    with ThreadPoolExecutor(len(events)) as pool:
        return list(pool.map(function.invoke, events))


def test_one_event_at_a_time_warm_reuse_and_cold_starts_up_to_the_limit(launcher):
    function = log_function(launcher, max_concurrency=3, timeout_seconds=20)
    answers = invoke_all(function, [{"tag": f"t{n}", "sleep": 0.4} for n in range(6)])
    assert [answer["tag"] for answer in answers] == [f"t{n}" for n in range(6)]
    by_pid: dict[int, list[int]] = {}
    for answer in answers:
        by_pid.setdefault(answer["pid"], []).append(answer["calls"])
    assert 1 < len(by_pid) <= 3  # at the limit the others waited for a free environment
    for calls in by_pid.values():  # each environment served its events one after the other
        assert sorted(calls) == list(range(1, len(calls) + 1))
    assert function.cold_starts == len(by_pid) == len(function.environments)
    again = function.invoke({"tag": "warm"})
    assert again["pid"] in by_pid  # a warm environment, no new cold start
    assert function.cold_starts == len(by_pid)
    assert function.invocations == 7


def test_log_lines_keep_their_own_keys_and_the_first_is_the_cold_start(launcher, lines):
    function = log_function(launcher, max_concurrency=4)
    contexts = [function.context() for _ in range(12)]
    events = [{"tag": f"tag-{n}", "sleep": 0.05 * (n % 3)} for n in range(12)]
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(function.invoke, events, contexts))
    deadline = time.monotonic() + 5
    while len(records := lines.records()) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(records) == 12
    request_of = {
        event["tag"]: context.aws_request_id for event, context in zip(events, contexts, strict=True)
    }
    for record in records:
        tag = record["message"].removeprefix("working on ")
        assert record["tag"] == tag
        assert record["function_request_id"] == request_of[tag]
    first_seen: set[int] = set()
    for record in records:  # environments' lines arrive in order: one event at a time each
        assert record["cold_start"] is (record["pid"] not in first_seen)
        first_seen.add(record["pid"])
    assert len(first_seen) == function.cold_starts


def test_a_timeout_stops_the_invocation_and_replaces_its_environment(launcher, still_running):
    function = log_function(launcher, timeout_seconds=1)
    first = function.invoke({"tag": "quick"})
    assert 0 < first["remaining_ms"] <= 1000
    started = time.monotonic()
    with pytest.raises(FunctionTimeout) as caught:
        function.invoke({"tag": "slow", "sleep": 30})
    assert time.monotonic() - started < 5
    assert caught.value.error_type == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in caught.value.error_message
    assert still_running([first["pid"]]) == []  # killed, as Lambda ends it
    after = function.invoke({"tag": "after"})
    assert after["pid"] != first["pid"] and after["calls"] == 1  # a new environment, init again
    assert function.cold_starts == 2


def test_callers_at_the_limit_are_served_first_come_first_served(launcher):
    function = log_function(launcher, max_concurrency=1)
    function.invoke({"tag": "warm"})
    calls: dict[str, int] = {}

    def call(tag: str, sleep: float = 0) -> None:
        calls[tag] = function.invoke({"tag": tag, "sleep": sleep})["calls"]

    threads = [threading.Thread(target=call, args=("busy", 0.5))]
    threads[0].start()
    time.sleep(0.1)
    for n in range(5):
        threads.append(threading.Thread(target=call, args=(f"w{n}",)))
        threads[-1].start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert [calls[f"w{n}"] for n in range(5)] == [3, 4, 5, 6, 7]  # in the order they came


def test_reserved_concurrency_throttles_instead_of_waiting(launcher):
    function = log_function(launcher, reserved_concurrency=1)
    function.invoke({"tag": "warm"})
    busy = threading.Thread(target=function.invoke, args=({"tag": "busy", "sleep": 1},))
    busy.start()
    time.sleep(0.3)
    with pytest.raises(TooManyRequests, match="Rate Exceeded"):
        function.invoke({"tag": "throttled"})
    busy.join()
    assert function.invoke({"tag": "free again"})["calls"] == 3
    with pytest.raises(TooManyRequests):
        log_function(launcher, reserved_concurrency=0).invoke({"tag": "never"})


def test_the_caller_may_stop_waiting_while_the_invocation_goes_on(launcher):
    function = log_function(launcher, timeout_seconds=10, max_concurrency=1)
    with pytest.raises(CallerTimeout):
        function.invoke({"tag": "long", "sleep": 1}, wait=0.3)
    answer = function.invoke({"tag": "next"})  # waited for the environment to finish the first event
    assert answer["calls"] == 2 and function.cold_starts == 1
    with pytest.raises(CallerTimeout):  # no environment became free in time: the event never ran
        threading.Thread(target=function.invoke, args=({"tag": "busy", "sleep": 1},)).start()
        time.sleep(0.2)
        function.invoke({"tag": "queued"}, wait=0.3)
    assert function.invoke({"tag": "last"})["calls"] == 4


def test_errors_in_init_and_exits_are_function_errors(launcher, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import module_that_does_not_exist\n")
    with pytest.raises(HandlerError) as caught:
        LambdaFunction("broken", broken, launcher=launcher).invoke({})
    assert caught.value.error_type == "Runtime.ImportModuleError"
    assert "Unable to import module 'broken'" in caught.value.error_message
    raising = tmp_path / "raising.py"
    raising.write_text("raise ValueError('bad settings')\n")
    with pytest.raises(HandlerError) as caught:
        LambdaFunction("raising", raising, launcher=launcher).invoke({})
    assert (caught.value.error_type, caught.value.error_message) == ("ValueError", "bad settings")

    function = log_function(launcher)
    with pytest.raises(HandlerError) as caught:
        function.invoke({"tag": "bye", "exit": True})
    assert caught.value.error_type == "Runtime.ExitError"
    assert function.invoke({"tag": "back"})["calls"] == 1


def test_unhandled_errors_answer_lambdas_payload(launcher):
    function = LambdaFunction("task", Path(__file__).parent / "task_fn" / "app.py", launcher=launcher)
    payload, error = function.invoke_payload(b'{"fail": true}')
    assert error == "Unhandled"
    body = json.loads(payload)
    assert body["errorType"] == "TaskRefused" and body["errorMessage"] == "asked to fail"
    assert body["stackTrace"] and "task_fn/app.py" in body["stackTrace"][0]  # the handler's frame first
    assert function.invoke_payload(b"not json")[1] == "Unhandled"


def test_a_changed_environment_replaces_the_environments(launcher, still_running):
    function = log_function(launcher, env={"LOG_FN_MARK": "one"})
    first = function.invoke({"tag": "a"})
    function.env["LOG_FN_MARK"] = "two"
    second = function.invoke({"tag": "b"})
    assert (first["mark"], second["mark"]) == ("one", "two")
    assert second["pid"] != first["pid"]
    assert still_running([first["pid"]]) == []


def test_stop_ends_every_environment_and_the_zygote(lines, still_running):
    launcher = Launcher(sink=lines).start()
    function = log_function(launcher, max_concurrency=2)
    answers = invoke_all(function, [{"tag": "a", "sleep": 0.3}, {"tag": "b", "sleep": 0.3}])
    pids = {answer["pid"] for answer in answers}
    launcher_pids = launcher.pids
    assert pids < set(launcher_pids) and len(launcher_pids) == len(pids) + 1  # and the zygote
    errors: list[HandlerError] = []

    def busy_invoke() -> None:
        try:
            function.invoke({"tag": "c", "sleep": 30})
        except HandlerError as exc:
            errors.append(exc)

    busy = threading.Thread(target=busy_invoke)
    busy.start()
    time.sleep(0.3)
    launcher.stop()
    busy.join(10)
    assert not busy.is_alive() and len(errors) == 1  # the busy invocation failed, it did not hang
    assert still_running([*pids, *launcher_pids]) == []
    with pytest.raises(Exception, match="stopped"):
        function.invoke({"tag": "after stop"})


def test_without_fork_each_environment_is_a_fresh_python(lines, still_running):
    launcher = Launcher(fork=False, sink=lines)
    try:
        function = log_function(launcher)
        context = LambdaContext(
            function_name="log-fn", invoked_function_arn="arn:aws:lambda:::function:log-fn"
        )
        answer = function.invoke({"tag": "fresh"}, context)
        assert answer["calls"] == 1
        deadline = time.monotonic() + 5
        while not lines.records() and time.monotonic() < deadline:
            time.sleep(0.05)
        (record,) = lines.records()
        assert record["cold_start"] is True and record["function_request_id"] == context.aws_request_id
    finally:
        launcher.stop()
    assert still_running([answer["pid"]]) == []


def test_the_limit_is_the_templates_reserved_concurrency_or_the_local_default():
    deployment = provision.plan(SamTemplate(TEST_TEMPLATE), endpoint_url="http://127.0.0.1:4566")
    functions = build_functions(deployment, env={})
    assert functions["BatchFunction"].reserved_concurrency == functions["BatchFunction"].limit == 2
    assert functions["EchoFunction"].reserved_concurrency is None
    assert functions["EchoFunction"].limit == DEFAULT_CONCURRENCY
    assert build_functions(deployment, env={}, max_concurrency=3)["EchoFunction"].limit == 3
    assert not any(function.environments for function in functions.values())  # nothing started
