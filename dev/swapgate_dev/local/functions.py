"""The template's functions as ``LambdaFunction`` objects with their local environment."""

from __future__ import annotations

from collections.abc import Mapping

from swapgate_dev.local import provision
from swapgate_dev.local.environments import Launcher
from swapgate_dev.local.runtime import DEFAULT_CONCURRENCY, LambdaFunction


def local_function_env(declared: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """A function's environment for a local run: the template's variables without the ``*_PARAM``
    SSM parameter names (no SSM locally: secrets come from the environment), then ``overrides``."""
    env = {key: value for key, value in declared.items() if not key.endswith("_PARAM")}
    env.update({key: str(value) for key, value in overrides.items()})
    return env


def build_functions(
    deployment: provision.Deployment,
    *,
    env: Mapping[str, str],
    only: set[str] | None = None,
    max_concurrency: int = DEFAULT_CONCURRENCY,
    launcher: Launcher | None = None,
) -> dict[str, LambdaFunction]:
    """A ``LambdaFunction`` per template function (or those in ``only``), by logical id: handler
    file from ``CodeUri`` + ``Handler``, timeout, memory and ``ReservedConcurrentExecutions`` from
    the template (``max_concurrency`` environments where it reserves none), the ``Environment``
    resolved against ``deployment``'s resources, then ``local_function_env(..., env)``. Nothing
    starts until a function is invoked."""
    template, resolver = deployment.template, deployment.resolver
    functions = {}
    for logical_id, spec in template.functions().items():
        if (only is not None and logical_id not in only) or logical_id not in deployment.names:
            continue
        declared = provision.function_environment(deployment, logical_id)
        reserved = spec.properties.get("ReservedConcurrentExecutions")
        functions[logical_id] = LambdaFunction(
            deployment.names[logical_id],
            spec.handler_file,
            spec.handler_name,
            env=local_function_env(declared, env),
            arn=deployment.function_arns[logical_id],
            timeout_seconds=float(resolver.resolve(spec.timeout)),
            memory_mb=int(resolver.resolve(spec.memory_size)),
            max_concurrency=max_concurrency,
            reserved_concurrency=None if reserved is None else int(resolver.resolve(reserved)),
            region=deployment.region,
            launcher=launcher,
        )
    return functions
