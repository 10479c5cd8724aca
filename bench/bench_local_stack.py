"""The local stack under load (not a test): ``python -m swapgate_dev.local`` as ``make dev`` runs it,
against a fast aifaceswap fake (results after 50 ms, by webhook only). At each concurrency, that many
clients each submit jobs one after the other (JSON, image URLs; 12 jobs at least per level) and
read the job's status every 250 ms until it ends; one round of jobs first (not counted) starts the
execution environments that concurrency needs, so the figures are for warm ones. Printed per concurrency: jobs per second, submit latency (p50, p95), how long
the stack took to answer the provider's webhooks (p95), and jobs lost (not succeeded; must be 0).

    make bench            # or: .venv/bin/python bench/bench_local_stack.py [--levels 1 8 32] [--json]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from swapgate.jobs import TERMINAL
from swapgate_dev.fakes import FakeAifaceswap
from swapgate_dev.local import running as local_stack
from swapgate_dev.local.running import RunningStack, stop_stack

API_KEY = "bench-key"
PROVIDER_KEY = "bench-provider-key"
MIN_JOBS = 12  # per concurrency level
STATUS_EVERY = 0.25  # seconds between a client's status reads


class TimedAifaceswap(FakeAifaceswap):
    """The aifaceswap fake, timing each webhook POST from when the job is done to the answer."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.answer_seconds: list[float] = []

    def _finish(self, job, generation) -> None:
        super()._finish(job, generation)  # waits for the job to end, then posts its webhook
        if job.webhook:
            self.answer_seconds.append(time.monotonic() - (job.started + job.delay))


def start_stack(fake: FakeAifaceswap) -> RunningStack:
    """The stack with the fake as its provider, a rate limit no client reaches; its logs discarded."""
    env = {
        "SWAPGATE_PROVIDER": "aifaceswap",
        "AIFACESWAP_API_KEY": PROVIDER_KEY,
        "AIFACESWAP_BASE_URL": fake.base_url,
        "SWAPGATE_RATE_LIMIT_PER_MINUTE": "1000000",
        "SWAPGATE_JOB_TIMEOUT_SECONDS": "120",
    }
    return local_stack.start_stack(API_KEY, env, stderr=subprocess.DEVNULL)


def run_job(session: requests.Session, api: str, fake: FakeAifaceswap) -> tuple[float, str]:
    """Submit one job and read its status until it ends: (submit seconds, final status)."""
    body = {"source_image": f"{fake.base_url}/in/source.png", "face_image": f"{fake.base_url}/in/face.png"}
    started = time.monotonic()
    submit = float("nan")
    try:
        response = session.post(f"{api}/v1/swaps", json=body, timeout=60)
        submit = time.monotonic() - started
        if response.status_code != 202:
            return submit, f"http {response.status_code}"
        job_id = response.json()["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            read = session.get(f"{api}/v1/swaps/{job_id}", timeout=60)
            if read.status_code != 200:
                return submit, f"status read http {read.status_code}"
            status = read.json()["status"]
            if status in TERMINAL:
                return submit, status
            time.sleep(STATUS_EVERY)
    except requests.RequestException as exc:
        return submit, type(exc).__name__
    return submit, "unfinished"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def measure(api: str, fake: TimedAifaceswap, clients: int, jobs_per_client: int) -> dict:
    fake.answer_seconds.clear()
    jobs_per_client = max(jobs_per_client, -(-MIN_JOBS // clients))
    sessions = [requests.Session() for _ in range(clients)]
    for session in sessions:
        session.headers["x-api-key"] = API_KEY

    def client(session: requests.Session) -> list[tuple[float, str]]:
        return [run_job(session, api, fake) for _ in range(jobs_per_client)]

    with ThreadPoolExecutor(clients) as pool:  # scale up first: cold starts are not measured
        list(pool.map(lambda session: run_job(session, api, fake), sessions))
    fake.answer_seconds.clear()
    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        outcomes = [outcome for outcomes in pool.map(client, sessions) for outcome in outcomes]
    elapsed = time.monotonic() - started
    submits = [seconds for seconds, _ in outcomes if seconds == seconds]  # not NaN
    succeeded = sum(status == "succeeded" for _, status in outcomes)
    failures = sorted({status for _, status in outcomes if status != "succeeded"})
    return {
        "concurrency": clients,
        "jobs": len(outcomes),
        "jobs_per_second": round(succeeded / elapsed, 2),
        "submit_p50_ms": round(statistics.median(submits) * 1000),
        "submit_p95_ms": round(percentile(submits, 95) * 1000),
        "webhook_answer_p95_ms": round(percentile(fake.answer_seconds, 95) * 1000),
        "jobs_lost": len(outcomes) - succeeded,
        "lost_as": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32], help="concurrencies")
    parser.add_argument("--jobs-per-client", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with TimedAifaceswap(api_key=PROVIDER_KEY, delay=0.05, webhook_timeout=60) as fake:
        stack = start_stack(fake)
        try:
            rows = [measure(stack.api_url, fake, level, args.jobs_per_client) for level in args.levels]
        finally:
            stop_stack(stack, signal.SIGINT, timeout=60)
    ready = stack.ready_seconds
    if args.json:
        print(json.dumps({"ready_seconds": round(ready, 1), "levels": rows}))
        return
    print(f"local stack under load (ready in {ready:.1f} s; aifaceswap fake, 50 ms jobs, webhooks only)")
    header = ("clients", "jobs", "jobs/s", "submit p50", "submit p95", "webhook answer p95", "lost")
    print("  ".join(f"{name:>18}" if i == 5 else f"{name:>10}" for i, name in enumerate(header)))
    for row in rows:
        cells = (
            row["concurrency"],
            row["jobs"],
            row["jobs_per_second"],
            f"{row['submit_p50_ms']} ms",
            f"{row['submit_p95_ms']} ms",
            f"{row['webhook_answer_p95_ms']} ms",
            row["jobs_lost"],
        )
        print("  ".join(f"{cell:>18}" if i == 5 else f"{cell:>10}" for i, cell in enumerate(cells)))
    if any(row["jobs_lost"] for row in rows):
        print(f"jobs were lost: {[row['lost_as'] for row in rows]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
