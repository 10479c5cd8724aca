"""What a job costs at AWS list prices (us-east-1, arm64), per 1,000 jobs (not a test).

The AWS calls are counted, not guessed: jobs run through the real handlers against template.yaml
deployed in moto with the provider fakes (the tests' harness), and every boto3 call is recorded with
the function that made it and each handler's warm duration. Two paths:

- usual: submit with a client webhook, the provider's webhook arrives, the client webhook goes out
  through the notify queue, the poller's first poll finds the job ended (bench/poller_cost.py);
- webhook lost: the same job on TTAPI whose webhook never arrives; the poller polls (pending) until
  the provider is done at 90 s and the poll's fetch finishes the job.

Lambda GB-seconds use the measured warm durations (this machine, moto: an estimate) and the template's
memory sizes. DynamoDB on-demand: 1 read unit per consistent read, 1 write unit per write (items here are
under 1 KB). Printed: the line items per path and the largest one; free tiers are left out.

    make bench            # or: python bench/job_cost.py
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from botocore.client import BaseClient

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from poller_cost import defaults, walk  # noqa: E402
from support.deployment import PROVIDER_KEY, deployed  # noqa: E402
from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi, WebhookReceiver  # noqa: E402
from swapgate_dev.local.cfn import load_template  # noqa: E402

#: AWS list prices, us-east-1, arm64, first (lowest-volume) tier, USD, as of 2026-11-30, from the pricing
#: pages aws.amazon.com/{api-gateway,lambda,step-functions,dynamodb,s3,sqs}/pricing. Those pages render
#: their figures client-side: re-check them there before relying on a total.
PRICES = {
    "api_gateway_rest_request": 3.50 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm64": 0.0000133334,
    "sfn_standard_transition": 0.025 / 1000,
    "dynamodb_write_unit": 0.625 / 1e6,  # on-demand, after the November 2024 price cut
    "dynamodb_read_unit": 0.125 / 1e6,
    "s3_put_copy_post_list": 0.005 / 1000,
    "s3_get_other": 0.0004 / 1000,
    "sqs_standard_request": 0.40 / 1e6,
    # SnapStart for Python (not in the job cost: only when SnapStart=Enabled)
    "snapstart_cache_gb_second": 0.0000015046,
    "snapstart_restore_gb": 0.0001397998,
}
PRICES_NOTE = "AWS list prices, us-east-1, arm64, first tier, as of 2026-11-30; see PRICES"

DDB_READS = {"GetItem", "Query", "Scan", "BatchGetItem"}
DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
S3_TIER1 = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2", "CreateMultipartUpload"}


class Meter:
    """Counts boto3 calls (by the function running) and times handler invocations."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.invocations: dict[str, list[float]] = defaultdict(list)
        self._original = BaseClient._make_api_call
        meter = self

        def counted(client, operation, params):
            meter.calls[(client.meta.service_model.service_name, operation)] += 1
            return meter._original(client, operation, params)

        BaseClient._make_api_call = counted

    def close(self) -> None:
        BaseClient._make_api_call = self._original

    def reset(self) -> None:
        self.calls.clear()
        self.invocations.clear()

    def timed(self, name: str, module) -> None:
        handler = module.handler

        def wrapper(event, context):
            start = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                self.invocations[name].append(time.perf_counter() - start)

        module.handler = wrapper


def memory_mb() -> dict[str, int]:
    template = load_template(ROOT / "template.yaml")
    default = int(template["Globals"]["Function"]["MemorySize"])
    names = {"ApiFunction": "api", "CallbackFunction": "callback", "PollFunction": "poll"}
    names |= {"TriggerFunction": "trigger", "NotifyFunction": "notify"}
    return {
        short: int(template["Resources"][logical]["Properties"].get("MemorySize", default))
        for logical, short in names.items()
    }


def poll_event(job: dict, timing: dict[str, int]) -> dict:
    return {
        "action": "poll",
        "job_id": job["id"],
        "interval_seconds": timing["PollIntervalSeconds"],
        "max_interval_seconds": timing["PollMaxIntervalSeconds"],
        "deadline": timing["JobTimeoutSeconds"],
    }


def run_job(deployment, meter: Meter, *, fake, lost: bool, polls: int, timing, client) -> dict:
    """One job through the handlers; returns its usage (API requests, invocations, calls)."""
    meter.reset()
    provider = "ttapi" if isinstance(fake, FakeTtapi) else "aifaceswap"
    source = f"{fake.base_url}/cdn/a.png"
    body = {"source_image": source, "face_image": source, "provider": provider, "webhook": client.url}
    answer = deployment.api("POST", "/v1/swaps", json_body=body)
    assert answer.status == 202, answer.body
    job = {"id": answer.body["id"]}
    api_requests = 1
    if not lost:
        deployment.deliver_callbacks(1)
        api_requests += 1
    else:
        deployment.callbacks.wait_for(deployment.delivered + 1)  # the webhook that gets lost
        deployment.delivered += 1
    for _ in range(polls):
        deployment.poll(poll_event(job, timing))
    deployment.run_notify()
    return {
        "api_requests": api_requests,
        "invocations": {name: list(times) for name, times in meter.invocations.items()},
        "calls": Counter(meter.calls),
    }


@contextlib.contextmanager
def quiet(monkeypatch):
    """The functions' loggers (made when they are loaded) print warnings only."""
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    yield


def measure() -> dict[str, dict]:
    timing = defaults()
    usual_polls = walk(30, timing)[1]
    lost_polls = walk(90, timing)[1]
    meter = Meter()
    try:
        with (
            pytest.MonkeyPatch.context() as monkeypatch,
            contextlib.redirect_stdout(io.StringIO()),  # the handlers' metrics
            FakeAifaceswap(api_key=PROVIDER_KEY, delay=0.05) as aifaceswap,
            FakeTtapi(api_key=PROVIDER_KEY, delay=0.05) as ttapi,
            WebhookReceiver() as client,
            quiet(monkeypatch),
            deployed(
                monkeypatch,
                aifaceswap,
                ttapi,
                notify_queue=True,
                functions=("api", "callback", "poll", "notify"),
            ) as deployment,
        ):
            for name in ("api", "callback", "poll", "notify"):
                meter.timed(name, deployment.function(name))
            runs = {}
            for label, fake, lost, polls in (
                ("usual", aifaceswap, False, usual_polls),
                ("webhook lost", ttapi, True, lost_polls),
            ):
                run_job(deployment, meter, fake=fake, lost=lost, polls=polls, timing=timing, client=client)
                runs[label] = run_job(  # the second job: warm durations
                    deployment, meter, fake=fake, lost=lost, polls=polls, timing=timing, client=client
                )
                runs[label]["transitions"] = walk(30 if not lost else 90, timing)[0]
            return runs
    finally:
        meter.close()


def line_items(run: dict, memory: dict[str, int]) -> dict[str, float]:
    """USD per job, by line item."""
    calls: Counter = run["calls"]
    invocations = run["invocations"]
    gb_seconds = sum(
        sum(times) * memory[name] / 1024 for name, times in invocations.items() if name in memory
    )
    count = sum(len(times) for times in invocations.values())
    by = lambda service, ops=None: sum(  # noqa: E731
        n for (s, op), n in calls.items() if s == service and (ops is None or op in ops)
    )
    s3_tier1 = by("s3", S3_TIER1)
    return {
        "API Gateway REST requests": run["api_requests"] * PRICES["api_gateway_rest_request"],
        "Lambda requests": count * PRICES["lambda_request"],
        "Lambda GB-seconds": gb_seconds * PRICES["lambda_gb_second_arm64"],
        "Step Functions transitions": run["transitions"] * PRICES["sfn_standard_transition"],
        "DynamoDB writes": by("dynamodb", DDB_WRITES) * PRICES["dynamodb_write_unit"],
        "DynamoDB reads": by("dynamodb", DDB_READS) * PRICES["dynamodb_read_unit"],
        "S3 PUT/LIST": s3_tier1 * PRICES["s3_put_copy_post_list"],
        "S3 GET/other": (by("s3") - s3_tier1) * PRICES["s3_get_other"],
        "SQS requests": by("sqs") * PRICES["sqs_standard_request"],
    }


def main() -> None:
    memory = memory_mb()
    runs = measure()
    print(f"job cost per 1,000 jobs, USD ({PRICES_NOTE})")
    for label, run in runs.items():
        items = line_items(run, memory)
        total = sum(items.values())
        calls = ", ".join(f"{s}:{op} {n}" for (s, op), n in sorted(run["calls"].items()))
        durations = ", ".join(
            f"{name} {len(t)}x {statistics.median(t) * 1000:.0f} ms" for name, t in run["invocations"].items()
        )
        print(f"\n{label}: {run['transitions']} transitions; invocations: {durations}")
        print(f"  AWS calls: {calls}")
        for item, usd in sorted(items.items(), key=lambda kv: -kv[1]):
            print(f"  {item:<28} {usd * 1000:>9.4f}")
        largest = max(items, key=items.get)
        print(f"  {'total':<28} {total * 1000:>9.4f}   largest item: {largest}")
    snapstart(memory)


def snapstart(memory: dict[str, int]) -> None:
    """What SnapStart=Enabled adds: the cache of each function's snapshot while its version is live,
    and a restore per new execution environment (instead of an init)."""
    month = 30 * 24 * 3600
    cache = sum(mb / 1024 for mb in memory.values()) * month * PRICES["snapstart_cache_gb_second"]
    print(
        f"\nSnapStart=Enabled adds about {cache:.2f} USD/month for the cached snapshots of the live versions"
    )
    for name, mb in memory.items():
        print(
            f"  {name:<9} {mb:>5} MB: {mb / 1024 * PRICES['snapstart_restore_gb'] * 1000:.4f} USD per 1,000 restores"
        )


if __name__ == "__main__":
    main()
