"""The poller's task (invoked by the Step Functions state machine in ``infra/poller.asl.json``).

Input: ``{"action": "poll" | "time_out", "job_id", "interval_seconds", "max_interval_seconds",
"deadline", "deadline_at"}``. For ``poll`` it answers the same keys plus ``status``, ``terminal``, ``expired`` and the
next, grown and capped, ``interval_seconds``. Providers that can fetch (TTAPI, local) are asked and a
terminal answer finishes the job through the same path as a webhook; for the others the job record is
only read.
"""

from __future__ import annotations

import time
from functools import cache

from aws_lambda_powertools import Logger, Metrics, Tracer

from swapgate.gateway import Gateway

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@cache  # one per execution environment, made on first use
def gateway() -> Gateway:
    return Gateway.from_env()


def next_interval(interval: int, cap: int) -> int:
    return max(1, min(cap, interval * 2)) if interval > 0 else 0


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    job_id = event["job_id"]
    logger.append_keys(job_id=job_id)
    if event.get("action") == "time_out":
        job = gateway().time_out(job_id)
        logger.info("deadline reached", extra={"status": job.status})
        return {"job_id": job_id, "status": str(job.status), "terminal": True, "expired": True}
    job = gateway().poll_job(job_id)
    interval = int(event.get("interval_seconds", 0))
    cap = int(event.get("max_interval_seconds", interval))
    deadline = int(event["deadline"])
    return {
        "job_id": job_id,
        "status": str(job.status),
        "terminal": job.status.terminal,
        "expired": not job.status.terminal and time.time() >= deadline,
        "interval_seconds": next_interval(interval, cap),
        "max_interval_seconds": cap,
        "deadline": deadline,
        # passed through for the machine's check after a failed poll; .get: events from before it existed
        "deadline_at": event.get("deadline_at"),
    }
