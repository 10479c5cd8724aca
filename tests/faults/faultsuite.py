"""Randomised fault schedules over the real handlers on moto with the provider fakes.

A schedule starts a job through the API, or one to three jobs through a manifest in the S3 inbox, at
aifaceswap or TTAPI; then the racing actors (the start once more: a client retry or a duplicate S3
event; provider webhooks, polls, cancel, the deadline, the change-stream pump, notify delivery) run
one whole step at a time in a seeded random order, with at most one fault: at one boto3 call
(throttled, a 500, or the process dying before or after the call) or at the provider (a 500 or 504
answer, duplicate, late or missing webhooks). Every actor is then retried to completion as AWS would
(webhooks by the provider, messages redelivered once their delay has passed on the lease clock,
stream batches retried, the poller's tasks retried, the client retrying with its Idempotency-Key) and
the schedule's invariants are checked.
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
from support.deployment import BUCKET
from swapgate import keys
from swapgate.delivery import retry_delay
from swapgate.inbox.batches import object_version
from swapgate.inbox.manifest import outbox_key
from swapgate_dev.local.sqs import sqs_event

SWAP = "/v1/swaps"
TERMINAL = {"succeeded", "failed", "canceled", "timed_out"}
BOTO_FAULTS = ("throttle", "internal", "die_before", "die_after")
PROVIDER_FAULTS = ("server_error", "gateway_timeout", "duplicate_webhook", "late_webhook", "no_webhook")
#: a boto3 fault strikes at call 1..CALL_SPAN of the schedule (settling included): a schedule makes
#: some 15-35 calls, so nearly every planned fault is reached, and a seed alone replays its fault
CALL_SPAN = 20
TRIES = 8  # how often an actor is retried before the schedule gives up on it
#: the provider's submit path, where a provider fault on submit strikes
SUBMIT_PATHS = {"aifaceswap": "/api/aifaceswap/v1/faceswap", "ttapi": "/insightFace/v1/swap"}
INBOX_SHARE = 0.2  # the share of schedules started by a manifest in the inbox
INBOX_RETRY_SECONDS = 1800  # the inbox queue's visibility timeout: a failed trigger's retry comes then


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
    in_progress: list[str] = field(default_factory=list)  # idempotency records written in progress

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
        elif operation == "PutItem" and _plain(params.get("Item", {}).get("status")) == "INPROGRESS":
            self.in_progress.append(_plain(params["Item"]["id"]))  # an Idempotency-Key's record


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
    providers: Counter = field(default_factory=Counter)  # schedules per provider
    manifests: int = 0  # schedules started by a manifest in the inbox
    manifest_jobs: int = 0  # the jobs those manifests named
    calls: Counter = field(default_factory=Counter)  # boto3 calls made by handlers, per schedule

    def line(self) -> str:
        return (
            f"faults: {self.schedules} schedules, {self.faults} faults injected, {self.lost_jobs} lost jobs, "
            f"{self.lost_notifications} lost notifications, {self.orphan_results} orphan results, "
            f"{self.double_results} double results"
        )


class Clock:
    """The clock of the leases that queue retries wait out, moved on as a redelivery's delay passes.

    SQS holds a failed message back (the notify function sets 30 s, 60 s ...; the inbox queue's
    visibility timeout is 30 minutes); the harness redelivers at once, so it moves this clock by that
    delay instead of sleeping. The delivery claim (``swapgate.delivery.time``) and the inbox batch's
    lease (``Inbox.clock``) read it.
    """

    def __init__(self) -> None:
        self.waited = 0.0

    def time(self) -> float:
        return time.time() + self.waited


class Runner:
    """Runs schedules against one deployment (``support.Deployment`` with the notify queue wired)."""

    def __init__(
        self, deployment, fakes: dict, receiver, injector: Injector, clock: Clock | None = None
    ) -> None:
        self.d, self.fakes, self.receiver, self.inj = deployment, fakes, receiver, injector
        self.clock = clock or Clock()
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

    def _drain(self, queue: str, module, delay) -> None:
        """Hand ``queue``'s messages to ``module`` until it is empty: a failed record comes back at
        once, with ``delay(message)`` seconds passed on the clock (SQS would hold it that long)."""
        for _ in range(TRIES):
            messages = self.d.receive(queue)
            if not messages:
                return
            event = sqs_event(messages, self.d.queue_arns[queue], "us-east-1")
            try:
                response = self._armed(lambda event=event: module.handler(event, lambda_context()))
                failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            except (Died, Exception) as exc:
                self.totals.errors[type(exc).__name__] += 1
                failed = {m["MessageId"] for m in messages}
            for message in messages:
                if message["MessageId"] in failed:
                    self.clock.waited += delay(message)
                    self.d.make_visible(queue, message)
                else:
                    self.d.sqs.delete_message(
                        QueueUrl=self.d.queue_urls[queue], ReceiptHandle=message["ReceiptHandle"]
                    )

    # --- how a job starts: the API or a manifest in the inbox ---------------------------------------

    def submit(self, state: dict) -> None:
        body = {
            "source_image": f"{self.fakes[state['provider']].base_url}/a.png",
            "face_image": f"{self.fakes[state['provider']].base_url}/b.png",
            "provider": state["provider"],
            "webhook": f"{self.receiver.url.rstrip('/')}/s{state['seed']}",
        }
        headers = {"x-api-key": "client-key-1", "Idempotency-Key": f"fault-{state['seed']}"}

        def once() -> bool:
            event = api_event("POST", SWAP, resource=SWAP, headers=headers, json_body=body)
            answer = proxy_answer(self._armed(lambda: self.d.api_module.handler(event, lambda_context())))
            self.totals.answers[answer.status] += 1
            if answer.status == 202:
                state["answered"].add(answer.body["id"])
                if answer.body["id"] not in state["jobs"]:
                    state["jobs"].append(answer.body["id"])
                return True
            if answer.status == 409:  # a try died with its idempotency record in progress: the
                self.d.expire_idempotency(self.inj.in_progress)  # client waits until it expires, retries
                return False
            if refused := (answer.body or {}).get("error", {}).get("job_id"):
                state["refused"].add(refused)  # the provider refused it: failed, a retry is a new job
            return answer.status < 500

        self._retry(once)

    def drop_manifest(self, state: dict) -> None:
        """The client uploads its images and a manifest of 1-3 jobs under ``inbox/`` (not a handler:
        no fault strikes the upload); S3 queues the events for the trigger."""
        seed, count = state["seed"], state["rng"].randint(1, 3)
        face = self.d.put_face(f"inbox/s{seed}/face.jpg")
        webhook = f"{self.receiver.url.rstrip('/')}/s{seed}"
        jobs = [
            {"source_image": face, "face_image": face, "provider": state["provider"], "webhook": webhook}
            for _ in range(count)
        ]
        key, manifest = f"inbox/s{seed}.json", json.dumps({"jobs": jobs}).encode()
        etag = self.d.put(key, manifest)["ETag"]
        version, _ = object_version(etag, None)  # moto's S3 events carry no sequencer
        state.update(manifest=key, etag=etag, size=len(manifest))
        state["jobs"] = [keys.inbox_job_id(key, version, index) for index in range(count)]
        self.totals.manifests += 1
        self.totals.manifest_jobs += count
        self.trigger(state)

    def trigger(self, state: dict | None = None) -> None:
        inbox = self.d.trigger_module.inbox()
        inbox.clock = self.clock.time
        self._drain("InboxQueue", self.d.trigger_module, lambda message: INBOX_RETRY_SECONDS)

    def again(self, state: dict) -> None:
        """The same start once more: the client retries its POST, or S3 delivers the event twice."""
        if not state["manifest"]:
            return self.submit(state)
        created = {
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": BUCKET},
                "object": {"key": state["manifest"], "eTag": state["etag"].strip('"'), "size": state["size"]},
            },
        }
        body = {"Records": [created]}
        self.d.send("InboxQueue", json.dumps(body))
        self.trigger(state)

    # --- the racing actors --------------------------------------------------------------------------

    def webhook(self, state: dict) -> None:
        for job_id in list(state["jobs"]):
            hooks = self._hooks(job_id)
            order = state["rng"].choice(("latest", "in order", "reordered"))  # one draw: reproducible
            for hook in {"latest": hooks[-1:], "in order": hooks, "reordered": hooks[::-1]}[order]:
                self._retry(lambda hook=hook: self._callback(hook))

    def _hooks(self, job_id: str) -> list:
        """The provider's webhooks for ``job_id`` so far (it sends them from its own thread)."""
        deadline = time.monotonic() + 0.15
        while True:
            hooks = [h for h in self.d.callbacks.received if f"/{job_id}?" in h.path]
            if hooks or time.monotonic() > deadline:
                return hooks
            time.sleep(0.002)

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
        for job_id in list(state["jobs"]):
            event = {"job_id": job_id, "interval_seconds": 5, "deadline": int(time.time()) + 600}
            self._retry(
                lambda event=event: bool(
                    self._armed(lambda: self.d.poll_module.handler(event, lambda_context()))
                )
            )

    def cancel(self, state: dict) -> None:
        if state["jobs"]:
            path = f"{SWAP}/{state['rng'].choice(state['jobs'])}/cancel"

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
        if state["jobs"]:
            self.time_out(state["rng"].choice(state["jobs"]))

    def pump(self, state: dict | None = None) -> None:
        handler = self.d.job_events_module.handler
        self._retry(
            lambda: (
                self.d.job_stream.pump(lambda event: self._armed(lambda: handler(event, lambda_context())))
                is not None
            )
        )

    def notify(self, state: dict | None = None) -> None:
        self._drain(
            "NotifyQueue",
            self.d.notify_module,
            lambda message: retry_delay(int(message["Attributes"]["ApproximateReceiveCount"])),
        )

    ACTORS = ("again", "webhook", "webhook", "poll", "cancel", "deadline", "pump", "notify")

    # --- one schedule -----------------------------------------------------------------------------

    @staticmethod
    def _start_of(rng: random.Random) -> tuple[str, bool]:
        """A schedule's provider and whether a manifest starts it: the seed's first two draws."""
        return rng.choice(("aifaceswap", "aifaceswap", "ttapi")), rng.random() < INBOX_SHARE

    def starts_by_manifest(self, seed: int) -> bool:
        return self._start_of(random.Random(seed))[1]

    def run(self, seed: int, fault_rate: float = 0.9, boto_faults: tuple[str, ...] = BOTO_FAULTS) -> None:
        rng = random.Random(seed)
        for fake in self.fakes.values():
            fake.reset()  # the last schedule's unused provider fault goes
        provider, by_inbox = self._start_of(rng)
        state: dict[str, Any] = {
            "seed": seed,
            "rng": rng,
            "provider": provider,
            "jobs": [],
            "answered": set(),
            "refused": set(),
            "manifest": None,
        }
        before = len(self.inj.injected)
        faulted = rng.random() < fault_rate
        if faulted and rng.random() < 0.25:
            kind = rng.choice(PROVIDER_FAULTS)
            path = SUBMIT_PATHS[provider] if kind in ("server_error", "gateway_timeout") else None
            self.fakes[provider].inject(kind, times=1, path=path)
            self.inj.injected.append(kind)
        elif faulted:
            self.inj.kind = rng.choice(boto_faults)
            self.inj.at = rng.randint(1, CALL_SPAN)
        actors = [a for a in self.ACTORS if rng.random() < 0.7]
        rng.shuffle(actors)
        self.inj.calls = 0
        self.inj.created.clear()
        self.inj.in_progress.clear()
        self.totals.providers[provider] += 1
        if by_inbox:
            self.drop_manifest(state)
        else:
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

    def _job(self, job_id: str) -> dict | None:
        return self.d.table.get_item(Key=keys.item_key(job_id), ConsistentRead=True).get("Item")

    def _all_jobs(self, state: dict) -> set[str]:
        return set(self.inj.created) | set(state["jobs"])

    def settle(self, state: dict) -> None:
        """Every actor retried to completion: the inbox's events handled, the deadline ends what is
        still running (the poller always gets there), the stream is pumped and every notification
        delivered."""
        for _ in range(TRIES):
            self.trigger(state)
            open_jobs = [
                j for j in self._all_jobs(state) if (job := self._job(j)) and job["status"] not in TERMINAL
            ]
            for job_id in open_jobs:
                self.time_out(job_id)
            self.pump()
            self.notify()
            if (
                not open_jobs
                and not self.d.job_stream._pending
                and self.d.depth("NotifyQueue") == 0
                and self.d.depth("InboxQueue") == 0
            ):
                return

    # --- the checks ---------------------------------------------------------------------------------

    def check(self, state: dict, seed: int, actors: list[str], faults: list[str]) -> None:
        where = f"seed {seed} ({state['provider']}{', inbox' if state['manifest'] else ''}), actors {actors}, faults {faults}"
        hooks = [h for h in self.receiver.received if h.path.rstrip("/").endswith(f"/s{seed}")]
        ids_by_job = defaultdict(set)
        for hook in hooks:
            body = json.loads(hook.body)
            ids_by_job[body.get("id") or body.get("job_id")].add(
                hook.headers.get("webhook-id") or hook.headers.get("Webhook-Id")
            )
        created = Counter(self.inj.created)
        if state["manifest"]:
            self._check_manifest(state, where, created)
        else:
            self._check_request(state, where, created)
        for job_id in self._all_jobs(state):
            job = self._job(job_id)
            if job is None:
                continue  # a manifest job recorded as never started: _check_manifest judged it
            self._check_job(job, where, ids_by_job)

    def _check_request(self, state: dict, where: str, created: Counter) -> None:
        """One Idempotency-Key, one job: the client learnt every job it made (202, or an error naming
        a job the provider refused, which ended failed, so that a retry rightly made a new one)."""
        unknown = set(created) - state["answered"] - state["refused"]
        refused_not_failed = [j for j in state["refused"] if (self._job(j) or {}).get("status") != "failed"]
        if len(state["answered"]) > 1 or unknown or refused_not_failed:
            self.totals.lost_jobs += 1
            self.totals.violations.append(
                f"{where}: one request made jobs {sorted(created)}: answered {state['answered']}, "
                f"refused {state['refused']} (not failed: {refused_not_failed})"
            )

    def _check_job(self, job: dict, where: str, ids_by_job: dict) -> None:
        job_id = job["id"]
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

    def _check_manifest(self, state: dict, where: str, created: Counter) -> None:
        """Every job of the manifest started exactly once and named by its batch record, which is done;
        the outbox result (the inbox's notification) lists each job as it ended."""
        key, expected = state["manifest"], state["jobs"]
        record = self.d.table.get_item(
            Key=keys.item_key(keys.manifest_record_id(key)), ConsistentRead=True
        ).get("Item")
        entries = (record or {}).get("entries", [])
        if record is None or [e.get("job_id") for e in entries] != expected or record["state"] != "done":
            self.totals.lost_jobs += 1
            self.totals.violations.append(
                f"{where}: batch record {record and (record['state'], entries)}, expected {expected}"
            )
            return
        for job_id, entry in zip(expected, entries, strict=True):
            if created[job_id] != (0 if entry.get("error") else 1) or set(created) - set(expected):
                self.totals.lost_jobs += 1
                self.totals.violations.append(
                    f"{where}: manifest job {job_id} created {created[job_id]} times, entry {entry}"
                )
        try:
            result = self.d.read_json(outbox_key(key, "result"))
        except ClientError:
            result = None
        ended = {j: job["status"] for j in expected if (job := self._job(j))}
        rows = {row["id"]: row["status"] for row in (result or {}).get("jobs", [])}
        if (
            result is None
            or result["total"] != len(expected)
            or any(rows.get(j) != s for j, s in ended.items())
        ):
            self.totals.lost_notifications += 1
            self.totals.violations.append(f"{where}: outbox result {result}, jobs ended {ended}")
