"""The poller's task, invoked by the state machine in ``infra/poller.asl.json``.

``poll`` (from the ``Poll`` state): providers that can fetch (TTAPI, local) are asked, and a terminal
answer finishes the job through the same path as a webhook; for the others the job record is only
read. ``time_out`` (from ``MarkTimedOut``): the job ends timed_out. The events and answers are the
contract in ``swapgate.poller``.
"""

from __future__ import annotations

from functools import cache

from swapgate import coldstart  # first: the light Powertools package faces (see swapgate.coldstart)

# isort: split
from aws_lambda_powertools import Logger, Metrics
from swapgate.gateway import Gateway
from swapgate.poller import parse_task

logger = Logger()
tracer = coldstart.LazyTracer()
metrics = Metrics()


@cache  # one per execution environment, made on first use
def gateway() -> Gateway:
    return Gateway.from_env()


coldstart.snapstart(warm=tracer.load, refresh=(gateway,))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    task = parse_task(event)
    logger.append_keys(job_id=task.job_id)
    return task.answer(task.run(gateway()))
