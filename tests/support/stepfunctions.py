"""Waiting on a Step Functions execution (moto's, or local AWS's)."""

from __future__ import annotations

import time
from typing import Any


def wait_for_end(sfn: Any, execution_arn: str, timeout: float = 20.0, interval: float = 0.05) -> dict:
    """The execution's description once it is no longer RUNNING. Raises ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(interval)
    raise TimeoutError(f"execution still running after {timeout}s")
