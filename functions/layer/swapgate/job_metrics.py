"""The gateway's job metrics: EMF lines CloudWatch reads from the logs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from swapgate import config

if TYPE_CHECKING:
    from swapgate.jobs import Job


def count_job(metric_name: str, job: Job, outcome: str) -> None:
    """One EMF metric per job event, by provider and outcome (CloudWatch reads it from the logs)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    namespace = config.env("POWERTOOLS_METRICS_NAMESPACE") or "Swapgate"
    with single_metric(name=metric_name, unit=MetricUnit.Count, value=1, namespace=namespace) as metric:
        metric.add_dimension(name="provider", value=job.provider)
        metric.add_dimension(name="outcome", value=outcome)
