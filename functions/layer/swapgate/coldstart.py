"""What keeps the function shells' init light, and their state right after a SnapStart restore.

- ``light_package``: a Powertools package whose ``__init__`` imports every sibling (the event handler
  package loads all resolvers, AppSync's and Bedrock's among them; the idempotency package loads the
  DynamoDB persistence layer and with it boto3) is registered without running that ``__init__``.
  Importing one of its modules then loads only that module; a name asked of the package itself is
  found in its loaded modules, or the real ``__init__`` runs then. Importing this module does it for
  the two packages below, so the shells import it before Powertools (``# isort: split``). A module
  that needs names from modules not loaded yet is best imported through the face (``from package
  import Name``): the face loads them in their own order.
- ``LazyTracer``: Powertools' Tracer, made on the first traced invocation. Making it imports the X-Ray
  SDK and patches boto and requests (about 0.2 s); with tracing disabled it is never made.
- ``snapstart``: the Lambda SnapStart hooks: before the snapshot, load what first requests would load;
  after a restore, reseed ``random`` and drop cached clients (their connections and credentials
  belong to the environment the snapshot was taken in). No-ops where ``snapshot_restore_py`` is absent.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import random
import sys
from collections.abc import Callable
from typing import Any

LIGHT_PACKAGES = (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.idempotency",
)


def light_package(name: str) -> None:
    """Register package ``name`` without running its ``__init__`` (no-op if it is already imported)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    package = importlib.util.module_from_spec(spec)
    loaded = False

    def __getattr__(attr: str) -> Any:  # PEP 562: only names not already on the package come here
        nonlocal loaded
        if attr.startswith("__"):
            raise AttributeError(attr)
        if importlib.util.find_spec(f"{name}.{attr}") is not None:  # `from package import module`
            return importlib.import_module(f"{name}.{attr}")
        for module_name, module in list(sys.modules.items()):
            if module_name.startswith(f"{name}.") and attr in getattr(module, "__dict__", {}):
                return module.__dict__[attr]
        if not loaded:  # a name only the package face defines: load the face after all
            loaded = True
            spec.loader.exec_module(package)
            if attr in package.__dict__:
                return package.__dict__[attr]
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    package.__getattr__ = __getattr__  # type: ignore[attr-defined]
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    setattr(importlib.import_module(parent), child, package)


for _name in LIGHT_PACKAGES:
    light_package(_name)


def tracing_disabled() -> bool:
    """Powertools' own rule: off when POWERTOOLS_TRACE_DISABLED says so, outside Lambda, under SAM local."""
    flag = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower()
    if flag in ("1", "true", "yes", "on", "y", "t"):
        return True
    in_lambda = bool(os.environ.get("LAMBDA_TASK_ROOT"))
    emulated = bool(os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE"))
    return not in_lambda or emulated


class LazyTracer:
    """A Powertools Tracer made when first needed; every other attribute is the real Tracer's."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._tracer: Any = None

    def load(self) -> Any:
        if self._tracer is None:
            from aws_lambda_powertools.tracing.tracer import Tracer

            self._tracer = Tracer(**self._options)
        return self._tracer

    def capture_lambda_handler(self, handler: Callable) -> Callable:
        """Like ``Tracer.capture_lambda_handler``; the Tracer is made at the first traced invocation."""
        traced: Callable | None = None

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            nonlocal traced
            if traced is None:
                if self._tracer is None and tracing_disabled():
                    return handler(event, context)
                traced = self.load().capture_lambda_handler(handler)
            return traced(event, context)

        return wrapper

    def __getattr__(self, name: str) -> Any:
        return getattr(self.load(), name)


def reseed() -> None:
    """A restored snapshot starts every environment with the same ``random`` state: draw a new one."""
    random.seed()


def snapstart(*, warm: Callable[[], Any] | None = None, refresh: tuple[Callable[[], Any], ...] = ()) -> None:
    """Register the SnapStart hooks: ``warm`` runs before the snapshot; after a restore ``random`` is
    reseeded, each ``functools.cache``'d factory in ``refresh`` is cleared and the providers' cached
    HTTP clients are dropped, so clients and connections are made anew in the restored environment."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:  # not on the Lambda runtime, or an older one: nothing is ever snapshotted
        return

    def after_restore() -> None:
        reseed()
        for factory in refresh:
            factory.cache_clear()  # type: ignore[attr-defined]
        from swapgate.providers import registry

        registry.clear_cache()

    if warm is not None:
        register_before_snapshot(warm)
    register_after_restore(after_restore)
