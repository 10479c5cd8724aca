"""A local HTTP server on a daemon thread: how the fakes and the local emulators start and stop theirs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from socketserver import BaseServer
from typing import Any, Self, TypeVar

T = TypeVar("T")


def serve_in_thread(server: BaseServer, *, poll_interval: float, name: str | None = None) -> threading.Thread:
    """Start serving ``server`` on a new daemon thread; the thread."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
    )
    thread.start()
    return thread


def stop_serving(server: BaseServer | None, thread: threading.Thread | None, timeout: float) -> None:
    """Stop ``server`` (when there is one), close its socket and wait up to ``timeout`` s for its thread."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout)


class Served:
    """``with server:`` starts it and stops it (the class has ``start() -> self`` and ``stop()``)."""

    start: Callable[[], Any]
    stop: Callable[[], None]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_items(
    cond: threading.Condition, items: Callable[[], list[T]], n: int, timeout: float, what: str
) -> list[T]:
    """Block on ``cond`` until ``items()`` holds ``n``; a copy of them. Raises ``TimeoutError`` (naming ``what``)."""
    with cond:
        if not cond.wait_for(lambda: len(items()) >= n, timeout=timeout):
            raise TimeoutError(f"{len(items())} of {n} {what} after {timeout}s")
        return list(items())
