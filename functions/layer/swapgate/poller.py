"""The poller contract: the Python side of the state machine in ``infra/poller.asl.json``.

It holds what submit starts an execution with, what the ``Poll`` and ``MarkTimedOut`` states send the
poll function, how the wait grows, the answer that replaces the state, and starting and stopping an
execution. tests/infra/test_poller_asl.py checks these keys against the paths the ASL reads;
docs/ARCHITECTURE.md ("Poller contract") describes the whole.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from aws_lambda_powertools import Logger

from swapgate import config
from swapgate.errors import JobNotFound
from swapgate.jobs import Job

logger = Logger(child=True)

#: the state machine this module speaks for: a repository path, deployed by the template, not in the layer
ASL_PATH = "infra/poller.asl.json"
#: the Task states that invoke the poll function, and the action each one sends
POLL_STATE, TIME_OUT_STATE = "Poll", "MarkTimedOut"
POLL, TIME_OUT = "poll", "time_out"

#: poller defaults (seconds); the template and the local stack set them through the environment
POLL_INITIAL_SECONDS = 60
POLL_INTERVAL_SECONDS = 30
POLL_MAX_INTERVAL_SECONDS = 300
JOB_TIMEOUT_SECONDS = 1800
#: submit starts the execution before it creates the job record: a poll that finds no record this
#: long after the execution started knows the record was never made, and ends the execution
RECORD_GRACE_SECONDS = 60
#: the poll answer's status for a job that has no record
GONE = "gone"


@dataclass
class PollSettings:
    initial_seconds: int
    interval_seconds: int
    max_interval_seconds: int
    timeout_seconds: int

    @classmethod
    def from_env(cls) -> PollSettings:
        def number(name: str, default: int) -> int:
            return int(config.env(name) or default)

        return cls(
            initial_seconds=number("SWAPGATE_POLL_INITIAL_SECONDS", POLL_INITIAL_SECONDS),
            interval_seconds=number("SWAPGATE_POLL_INTERVAL_SECONDS", POLL_INTERVAL_SECONDS),
            max_interval_seconds=number("SWAPGATE_POLL_MAX_INTERVAL_SECONDS", POLL_MAX_INTERVAL_SECONDS),
            timeout_seconds=number("SWAPGATE_JOB_TIMEOUT_SECONDS", JOB_TIMEOUT_SECONDS),
        )


@dataclass(frozen=True)
class ExecutionInput:
    """What an execution starts with: ``InitialWait`` and the first ``Poll`` read it."""

    job_id: str
    initial_seconds: int
    interval_seconds: int
    max_interval_seconds: int
    deadline: int  # epoch seconds
    # the same deadline for the machine's own check after a failed poll (AfterPollError)
    deadline_at: str

    @classmethod
    def for_job(
        cls, job_id: str, settings: PollSettings, now: float, timeout_seconds: int | None = None
    ) -> ExecutionInput:
        """The input for a job submitted at ``now``; ``timeout_seconds`` (a client's ``Cancel-After``)
        shortens the deployment's timeout, never lengthens it, and the first poll comes by then."""
        timeout = settings.timeout_seconds
        if timeout_seconds is not None:
            timeout = max(1, min(timeout, timeout_seconds))
        deadline = int(now) + timeout
        return cls(
            job_id=job_id,
            initial_seconds=min(settings.initial_seconds, timeout),
            interval_seconds=settings.interval_seconds,
            max_interval_seconds=settings.max_interval_seconds,
            deadline=deadline,
            deadline_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(deadline)),
        )


@dataclass(frozen=True)
class Execution:
    """A started execution: its ARN, and the input it runs with."""

    arn: str
    input: ExecutionInput


@dataclass
class Poller:
    """Starts and stops the state machine's executions: one per job, named after it."""

    sfn: Any
    state_machine_arn: str
    settings: PollSettings = field(default_factory=PollSettings.from_env)

    @classmethod
    def from_env(cls) -> Poller | None:
        """None where no state machine is configured: jobs then end by their webhook alone."""
        state_machine_arn = config.env("SWAPGATE_STATE_MACHINE_ARN")
        if not state_machine_arn:
            return None
        import boto3

        return cls(sfn=boto3.client("stepfunctions"), state_machine_arn=state_machine_arn)

    def start(self, job_id: str, timeout_seconds: int | None = None) -> Execution:
        """Start the job's execution, named after the job (deadline: ``timeout_seconds`` from now, at
        most the deployment's timeout).

        A name that an earlier attempt for the same job id already used (an inbox job whose trigger
        died before creating the record: that execution ends on its own) gets a fresh suffix, since
        Step Functions never reuses a name."""
        execution_input = ExecutionInput.for_job(job_id, self.settings, time.time(), timeout_seconds)
        body = json.dumps(asdict(execution_input))
        try:
            answer = self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=job_id, input=body)
        except self.sfn.exceptions.ExecutionAlreadyExists:
            name = f"{job_id}-{uuid.uuid4().hex[:12]}"
            answer = self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=body)
        return Execution(answer["executionArn"], execution_input)

    def stop(self, execution_arn: str, cause: str = "job canceled") -> None:
        try:
            self.sfn.stop_execution(executionArn=execution_arn, cause=cause)
        except Exception:  # the poller may have ended on its own already
            logger.info("poller already stopped")


# --- the poll function's task ----------------------------------------------------------------


def next_interval(interval: int, cap: int) -> int:
    """The wait before the next poll: doubled, capped, at least 1 s; 0 stays 0 (tests wait no time)."""
    return max(1, min(cap, interval * 2)) if interval > 0 else 0


class PollTarget(Protocol):
    """The use cases a task calls (``swapgate.gateway.Gateway``)."""

    def poll_job(self, job_id: str) -> Job: ...

    def time_out(self, job_id: str) -> Job: ...


@dataclass(frozen=True)
class PollTask:
    """``Poll``'s input: look at the job, then answer the state the machine goes on with."""

    job_id: str
    interval_seconds: int
    max_interval_seconds: int
    deadline: int
    deadline_at: str | None  # None only in events from before it existed
    #: when the execution started (``$$.Execution.StartTime``); None in events from before it was sent
    started_at: str | None = None
    action: Literal["poll"] = POLL

    def run(self, target: PollTarget) -> Job | None:
        """The job after the poll; None when it has no record."""
        try:
            return target.poll_job(self.job_id)
        except JobNotFound:
            return None

    def answer(self, job: Job | None) -> dict[str, Any]:
        """The task's input keys (without action) and the next interval, status, terminal, expired.

        A job without a record is terminal (the execution ends) once RECORD_GRACE_SECONDS have
        passed since the execution started: submit creates the record just after starting it. The
        next wait never passes the deadline, so a job is timed out when its deadline comes, not up to
        one interval later (what makes a short ``Cancel-After`` punctual)."""
        if job is None:
            status, terminal = GONE, self._grace_over()
            if terminal:
                logger.warning("no record for this job: the poller ends")
        else:
            status, terminal = str(job.status), job.status.terminal
        now = time.time()
        interval = next_interval(self.interval_seconds, self.max_interval_seconds)
        if interval > 0 and not terminal:
            interval = max(1, min(interval, math.ceil(self.deadline - now)))
        return {
            "job_id": self.job_id,
            "status": status,
            "terminal": terminal,
            "expired": not terminal and now >= self.deadline,
            "interval_seconds": interval,
            "max_interval_seconds": self.max_interval_seconds,
            "deadline": self.deadline,
            "deadline_at": self.deadline_at,
        }

    def _grace_over(self) -> bool:
        started = _epoch(self.started_at)
        return started is None or time.time() >= started + RECORD_GRACE_SECONDS


def _epoch(timestamp: str | None) -> float | None:
    """An ISO-8601 time (``Z`` or an offset) in epoch seconds; None when absent or unreadable."""
    if not timestamp:
        return None
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class TimeOutTask:
    """``MarkTimedOut``'s input: the deadline has passed, so the job ends timed_out (if still running)."""

    job_id: str
    action: Literal["time_out"] = TIME_OUT

    def run(self, target: PollTarget) -> Job | None:
        """The job after its time-out; None when it has no record (nothing to time out)."""
        try:
            job = target.time_out(self.job_id)
        except JobNotFound:
            logger.warning("deadline reached for a job without a record")
            return None
        logger.info("deadline reached", extra={"status": job.status})
        return job

    def answer(self, job: Job | None) -> dict[str, Any]:
        status = GONE if job is None else str(job.status)
        return {"job_id": self.job_id, "status": status, "terminal": True, "expired": True}


def parse_task(event: dict[str, Any]) -> PollTask | TimeOutTask:
    """The poll function's event: ``time_out`` from MarkTimedOut, anything else is a poll."""
    if event.get("action") == TIME_OUT:
        return TimeOutTask(job_id=event["job_id"])
    interval = int(event.get("interval_seconds", 0))
    return PollTask(
        job_id=event["job_id"],
        interval_seconds=interval,
        max_interval_seconds=int(event.get("max_interval_seconds", interval)),
        deadline=int(event["deadline"]),
        deadline_at=event.get("deadline_at"),
        started_at=event.get("started_at"),
    )
