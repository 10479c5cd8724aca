"""The Lambda entry point shared by the functions that process a batch of queue or stream records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BasePartialBatchProcessor, process_partial_response


def batch_handler(
    record_handler: Callable[[Any], Any],
    processor: BasePartialBatchProcessor,
    *,
    logger: Any,
    tracer: Any,
    metrics: Any,
) -> Callable[[dict, object], dict]:
    """A handler that runs ``record_handler`` on each record and reports the failed ones (partial
    batch response), with the Lambda context in the logs, the invocation traced and metrics flushed."""

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict, context: object) -> dict:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return handler
