"""What the local event sources share: a daemon thread that runs ``_run`` until ``stop()``, with
counters of the batches delivered and the errors met."""

from __future__ import annotations

import threading
from typing import Self


class PollLoop:
    """The thread, its stop event and the counters; a subclass's ``_run`` loops until ``_stop`` is set."""

    kind = "poll"  # the thread's name is "<kind>-<name>"

    def __init__(self, name: str, idle_seconds: float) -> None:
        self.name = name
        self.idle_seconds = idle_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.errors = 0

    def start(self) -> Self:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        raise NotImplementedError
