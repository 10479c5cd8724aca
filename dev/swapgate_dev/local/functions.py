"""The template's functions as in-process ``LambdaFunction`` objects with their local environment."""

from __future__ import annotations

from collections.abc import Mapping

from swapgate_dev.local import provision
from swapgate_dev.local.runtime import LambdaFunction


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
    max_concurrency: int = 10,
) -> dict[str, LambdaFunction]:
    """A ``LambdaFunction`` per template function (or those in ``only``), by logical id: handler
    file from ``CodeUri`` + ``Handler``, timeout and memory from the template, the ``Environment``
    resolved against ``deployment``'s resources, then ``local_function_env(..., env)``."""
    template, resolver = deployment.template, deployment.resolver
    functions = {}
    for logical_id, spec in template.functions().items():
        if (only is not None and logical_id not in only) or logical_id not in deployment.names:
            continue
        declared = provision.function_environment(deployment, logical_id)
        functions[logical_id] = LambdaFunction(
            deployment.names[logical_id],
            spec.handler_file,
            spec.handler_name,
            env=local_function_env(declared, env),
            arn=deployment.function_arns[logical_id],
            timeout_seconds=float(resolver.resolve(spec.timeout)),
            memory_mb=int(resolver.resolve(spec.memory_size)),
            max_concurrency=max_concurrency,
            region=deployment.region,
        )
    return functions
