"""The Docker-free local stack (``make dev`` / ``python -m swapgate_dev.local``).

Modules, smallest first:

* ``cfn``: CloudFormation YAML (short tags) and the intrinsic-function resolver
* ``sam``: the SAM template's functions (Globals applied), Api routes, SQS event sources
* ``provision``: the template's resources created in local AWS, names planned first
* ``worker``: what runs inside an execution environment (a process), and the zygote that forks them
* ``environments``: the launcher of execution environments and their handles
* ``runtime``: Lambda's execution model: context object, per-function pools of environments
  (one event at a time each, cold starts, concurrency limit, timeouts)
* ``functions``: the template's functions as ``LambdaFunction`` objects
* ``aws``: moto in server mode, with Lambda ``Invoke`` routed to the functions
* ``sqs``: SQS event source mappings (partial batch failures)
* ``apigw``: the API Gateway REST (proxy) emulator, reusable on its own in tests
* ``settings`` / ``stack`` / ``__main__``: configuration, orchestration, the command
* ``running``: the command as a subprocess on free ports (the end-to-end tests and benchmarks start it)

The names below load on first use: an execution environment imports ``worker`` and ``runtime``
only, never moto.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ApiGatewayEmulator": "swapgate_dev.local.apigw",
    "LambdaContext": "swapgate_dev.local.runtime",
    "LambdaFunction": "swapgate_dev.local.runtime",
    "LocalSettings": "swapgate_dev.local.settings",
    "LocalStack": "swapgate_dev.local.stack",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
