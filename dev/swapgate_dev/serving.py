"""A local HTTP server on a daemon thread: how the fakes and the local emulators start and stop theirs."""

from __future__ import annotations

import threading
from socketserver import BaseServer


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
