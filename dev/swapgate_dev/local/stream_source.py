"""The template's DynamoDB stream event sources, run as Lambda's event source mapping runs them: a
thread per mapping reads the table's stream from local AWS, keeps what its ``FilterCriteria`` match,
and hands batches to the function through its execution environments, in order, resuming from the
first failed record (``swapgate_dev.streams.StreamSource`` does the reading, filtering and resuming).

A batch that keeps failing is offered again with a growing pause (up to 10 s); the mapping's retry
limit and ``OnFailure`` destination are not emulated (the records are retried instead of dropped).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from swapgate_dev.streams import StreamMapping, StreamSource

log = logging.getLogger("swapgate_dev.local.streams")


class StreamEventSource:
    """One ``Type: DynamoDB`` event: ``invoke(event) -> response`` for each batch."""

    def __init__(self, source: StreamSource, invoke: Any, *, name: str, idle_seconds: float = 0.2) -> None:
        self.source = source
        self.invoke = invoke
        self.name = name
        self.idle_seconds = idle_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.errors = 0

    @classmethod
    def for_mapping(
        cls, mapping: StreamMapping, *, streams: Any, dynamodb: Any, table_name: str, invoke: Any
    ) -> StreamEventSource:
        source = StreamSource.for_table(streams, dynamodb, table_name, mapping)
        return cls(source, invoke, name=f"{mapping.table_id}->{mapping.function_id}")

    def start(self) -> StreamEventSource:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                responses = self.source.pump(self.invoke)
            except Exception as exc:  # the function failed (or local AWS did): the batch comes again
                self.errors += 1
                failures += 1
                log.warning("%s: %s; the batch will be retried", self.name, exc)
                self._stop.wait(min(10.0, self.idle_seconds * 2**failures))
                continue
            self.batches += len(responses)
            partial = any(response.get("batchItemFailures") for response in responses)
            failures = failures + 1 if partial else 0
            self._stop.wait(min(10.0, self.idle_seconds * 2**failures) if partial else self.idle_seconds)
