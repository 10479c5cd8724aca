"""Randomised fault schedules over the real handlers on moto with the provider fakes.

A schedule is one job's racing actors (submit, provider webhooks, polls, cancel, the deadline, the
change-stream pump, notify delivery) run one whole step at a time in a seeded random order, with at
most one fault: at one boto3 call (throttled, a 500, or the process dying before or after the call)
or at the provider (a 500 or 504 answer, duplicate, late or missing webhooks). Every actor is then
retried to completion as AWS would (webhooks by the provider, messages redelivered, stream batches
retried, the poller's tasks retried, the client retrying with its Idempotency-Key) and the schedule's
invariants are checked.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import botocore.client
from botocore.exceptions import ClientError
from support import api_event, lambda_context, proxy_answer
from swapgate_dev.local.sqs import sqs_event

SWAP = "/v1/swaps"
TERMINAL = {"succeeded", "failed", "canceled", "timed_out"}
BOTO_FAULTS = ("throttle", "internal", "die_before", "die_after")
PROVIDER_FAULTS = ("server_error", "gateway_timeout", "duplicate_webhook", "late_webhook", "no_webhook")
#: a boto3 fault strikes at call 1..CALL_SPAN of the schedule (settling included): a schedule makes
#: some 15-35 calls, so nearly every planned fault is reached, and a seed alone replays its fault
CALL_SPAN = 20
TRIES = 8  # how often an actor is retried before the schedule gives up on it


class Died(BaseException):
    """The Lambda process died at a call: no handler catches it; the invocation just ends."""


def _throttled(service: str, operation: str) -> ClientError:
    code = "ProvisionedThroughputExceededException" if service == "dynamodb" else "ThrottlingException"
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, operation)


@dataclass
class Injector:
    """Wraps every boto3 call. While ``armed`` (inside a handler) it counts calls and injects the one
    planned fault at call number ``at``; it always records committed terminal writes per job."""

    table: str
    armed: bool = False
    calls: int = 0
    at: int | None = None
    kind: str | None = None
    injected: list[str] = field(default_factory=list)
    terminal_writes: Counter = field(default_factory=Counter)
    created: list[str] = field(default_factory=list)

    def install(self, monkeypatch) -> None:
        original = botocore.client.BaseClient._make_api_call
        injector = self

        def call(client, operation: str, params: dict[str, Any]):
            service = client.meta.service_model.service_name
            fault = None
            if injector.armed:
                injector.calls += 1
                if injector.at is not None and injector.calls == injector.at:
                    fault, injector.at = injector.kind, None
                    injector.injected.append(f"{fault}@{service}.{operation}")
            if fault == "throttle":
                raise _throttled(service, operation)
            if fault == "internal":
                raise ClientError({"Error": {"Code": "InternalServerError", "Message": "500"}}, operation)
            if fault == "die_before":
                raise Died(f"{service}.{operation}")
            answer = original(client, operation, params)
            injector._record(service, operation, params)
            if fault == "die_after":
                raise Died(f"after {service}.{operation}")
            return answer

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)

    def _record(self, service: str, operation: str, params: dict[str, Any]) -> None:
        if service != "dynamodb" or params.get("TableName") != self.table:
            return
        if operation == "UpdateItem":
            status = _plain(params.get("ExpressionAttributeValues", {}).get(":status"))
            if status in TERMINAL:
                self.terminal_writes[_plain(params["Key"]["id"])] += 1
        elif operation == "PutItem" and "operation" in params.get("Item", {}):
            self.created.append(_plain(params["Item"]["id"]))


def _plain(value: Any) -> Any:
    """A value as the resource or the low-level client writes it."""
    if isinstance(value, dict) and len(value) == 1 and "S" in value:
        return value["S"]
    return value


@dataclass
class Totals:
    schedules: int = 0
    faults: int = 0
    lost_jobs: int = 0
    lost_notifications: int = 0
    orphan_results: int = 0
    double_results: int = 0
    violations: list[str] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)  # the submit answers' statuses, for the record
    ends: Counter = field(default_factory=Counter)  # how the jobs ended
    errors: Counter = field(default_factory=Counter)  # invocation errors the runtime retried
    notified: int = 0  # jobs whose one notification was checked
    calls: Counter = field(default_factory=Counter)  # boto3 calls made by handlers, per schedule

    def line(self) -> str:
        return (
            f"faults: {self.schedules} schedules, {self.faults} faults injected, {self.lost_jobs} lost jobs, "
            f"{self.lost_notifications} lost notifications, {self.orphan_results} orphan results, "
            f"{self.double_results} double results"
        )


class Runner:
    """Runs schedules against one deployment (``support.Deployment`` with the notify queue wired)."""

    def __init__(self, deployment, fake, receiver, injector: Injector) -> None:
        self.d, self.fake, self.receiver, self.inj = deployment, fake, receiver, injector
        self.totals = Totals()

    # --- invoking a handler as Lambda does --------------------------------------------------------

    def _armed(self, call):
        self.inj.armed = True
        try:
            return call()
        finally:
            self.inj.armed = False

    def _retry(self, step) -> bool:
        """Run ``step`` until it reports done (True), as the caller or runtime retries it."""
        for _ in range(TRIES):
            try:
                if step():
                    return True
            except (Died, Exception) as exc:  # an invocation error: the runtime tries again
                self.totals.errors[type(exc).__name__] += 1
        return False

    # --- actors -----------------------------------------------------------------------------------

    def submit(self, state: dict) -> None:
        body = {
            "source_image": f"{self.fake.base_url}/a.png",
            "face_image": f"{self.fake.base_url}/b.png",
            "webhook": f"{self.receiver.url.rstrip('/')}/s{state['seed']}",
        }
        headers = {"x-api-key": "client-key-1", "Idempotency-Key": f"fault-{state['seed']}"}

        def once() -> bool:
            event = api_event("POST", SWAP, resource=SWAP, headers=headers, json_body=body)
            answer = proxy_answer(self._armed(lambda: self.d.api_module.handler(event, lambda_context())))
            self.totals.answers[answer.status] += 1
            if answer.status == 202:
                state["job"] = answer.body["id"]
                return True
            if answer.status == 409:  # the first try is still "in progress": the client stops here
                return True
            return answer.status < 500

        self._retry(once)

    def webhook(self, state: dict) -> None:
        job_id = state.get("job")
        if not job_id:
            return
        hooks = [h for h in self.d.callbacks.received if f"/{job_id}?" in h.path]
        if not hooks:
            deadline = time.monotonic() + 0.15
            while not hooks and time.monotonic() < deadline:
                time.sleep(0.002)
                hooks = [h for h in self.d.callbacks.received if f"/{job_id}?" in h.path]
        order = state["rng"].choice(("latest", "in order", "reordered"))  # one draw: reproducible
        for hook in {"latest": hooks[-1:], "in order": hooks, "reordered": hooks[::-1]}[order]:
            self._retry(lambda hook=hook: self._callback(hook))

    def _callback(self, hook) -> bool:
        event = api_event(
            "POST",
            hook.path,
            resource="/callbacks/{provider}/{job_id}",
            headers={"Content-Type": "application/json"},
            data=hook.body,
        )
        answer = proxy_answer(self._armed(lambda: self.d.callback_module.handler(event, lambda_context())))
        return answer.status < 500

    def poll(self, state: dict) -> None:
        if job_id := state.get("job"):
            event = {"job_id": job_id, "interval_seconds": 5, "deadline": int(time.time()) + 600}
            self._retry(
                lambda: bool(self._armed(lambda: self.d.poll_module.handler(event, lambda_context())))
            )

    def cancel(self, state: dict) -> None:
        if job_id := state.get("job"):
            path = f"{SWAP}/{job_id}/cancel"

            def once() -> bool:
                event = api_event(
                    "POST", path, resource="/v1/swaps/{id}/cancel", headers={"x-api-key": "client-key-1"}
                )
                answer = proxy_answer(self._armed(lambda: self.d.api_module.handler(event, lambda_context())))
                return answer.status < 500

            self._retry(once)

    def time_out(self, job_id: str) -> bool:
        event = {"action": "time_out", "job_id": job_id}
        return self._retry(
            lambda: bool(self._armed(lambda: self.d.poll_module.handler(event, lambda_context())))
        )

    def deadline(self, state: dict) -> None:
        if job_id := state.get("job"):
            self.time_out(job_id)

    def pump(self, state: dict | None = None) -> None:
        handler = self.d.job_events_module.handler
        self._retry(
            lambda: (
                self.d.job_stream.pump(lambda event: self._armed(lambda: handler(event, lambda_context())))
                is not None
            )
        )

    def notify(self, state: dict | None = None) -> None:
        for _ in range(TRIES):
            messages = self.d.receive("NotifyQueue")
            if not messages:
                return
            event = sqs_event(messages, self.d.queue_arns["NotifyQueue"], "us-east-1")
            try:
                response = self._armed(
                    lambda event=event: self.d.notify_module.handler(event, lambda_context())
                )
                failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            except (Died, Exception):
                failed = {m["MessageId"] for m in messages}
            for message in messages:
                if message["MessageId"] in failed:  # redelivered at once (as if its delay had passed)
                    self.d.make_visible("NotifyQueue", message)
                else:
                    self.d.sqs.delete_message(
                        QueueUrl=self.d.queue_urls["NotifyQueue"], ReceiptHandle=message["ReceiptHandle"]
                    )

    ACTORS = ("webhook", "webhook", "poll", "cancel", "deadline", "pump", "notify")

    # --- one schedule -----------------------------------------------------------------------------

    def run(self, seed: int, fault_rate: float = 0.9, boto_faults: tuple[str, ...] = BOTO_FAULTS) -> None:
        rng = random.Random(seed)
        self.fake.reset()  # the last schedule's unused provider fault goes
        state: dict[str, Any] = {"seed": seed, "rng": rng}
        before = len(self.inj.injected)
        faulted = rng.random() < fault_rate
        if faulted and rng.random() < 0.25:
            kind = rng.choice(PROVIDER_FAULTS)
            path = "/api/aifaceswap/v1/faceswap" if kind in ("server_error", "gateway_timeout") else None
            self.fake.inject(kind, times=1, path=path)
            self.inj.injected.append(kind)
        elif faulted:
            self.inj.kind = rng.choice(boto_faults)
            self.inj.at = rng.randint(1, CALL_SPAN)
        actors = [a for a in self.ACTORS if rng.random() < 0.7]
        rng.shuffle(actors)
        self.inj.calls = 0
        self.inj.created.clear()
        self.submit(state)
        for actor in actors:
            getattr(self, actor)(state)
        self.settle(state)  # a fault not reached yet may strike there: those actors are retried too
        self.inj.at = None
        self.totals.calls[self.inj.calls] += 1
        faults = len(self.inj.injected) - before
        self.totals.schedules += 1
        self.totals.faults += faults
        self.check(state, seed, actors, self.inj.injected[before:])

    def settle(self, state: dict) -> None:
        """Every actor retried to completion: the deadline ends what is still running (the poller
        always gets there), the stream is pumped and every notification delivered."""
        for _ in range(TRIES):
            jobs = set(self.inj.created) | ({state["job"]} if state.get("job") else set())
            open_jobs = [j for j in jobs if self.d.job(j)["status"] not in TERMINAL]
            for job_id in open_jobs:
                self.time_out(job_id)
            self.pump()
            self.notify()
            if not open_jobs and not self.d.job_stream._pending and self.d.depth("NotifyQueue") == 0:
                return

    def check(self, state: dict, seed: int, actors: list[str], faults: list[str]) -> None:
        jobs = set(self.inj.created) | ({state["job"]} if state.get("job") else set())
        hooks = [h for h in self.receiver.received if h.path.rstrip("/").endswith(f"/s{seed}")]
        ids_by_job = defaultdict(set)
        for hook in hooks:
            ids_by_job[json.loads(hook.body).get("id") or json.loads(hook.body).get("job_id")].add(
                hook.headers.get("webhook-id") or hook.headers.get("Webhook-Id")
            )
        where = f"seed {seed}, actors {actors}, faults {faults}"
        for job_id in jobs:
            job = self.d.job(job_id)
            results = self.d.keys(f"results/{job_id}")
            self.totals.ends[job["status"]] += 1
            if job["status"] not in TERMINAL or self.inj.terminal_writes[job_id] != 1:
                self.totals.lost_jobs += 1
                self.totals.violations.append(
                    f"{where}: job {job_id} {job['status']} after "
                    f"{self.inj.terminal_writes[job_id]} terminal transitions"
                )
            if job.get("webhook") and len(ids_by_job.get(job_id, ())) == 1:
                self.totals.notified += 1
            elif job.get("webhook"):
                self.totals.lost_notifications += 1
                self.totals.violations.append(
                    f"{where}: job {job_id} ({job['status']}) webhook ids {ids_by_job.get(job_id)}"
                )
            if results and job["status"] != "succeeded":
                self.totals.orphan_results += 1
                self.totals.violations.append(f"{where}: {job['status']} job {job_id} has {results}")
            if len(results) > 1:
                self.totals.double_results += 1
                self.totals.violations.append(f"{where}: job {job_id} has {results}")
            if job["status"] == "succeeded" and not results:
                self.totals.violations.append(f"{where}: succeeded job {job_id} has no result")
