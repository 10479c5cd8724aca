"""The template's DynamoDB stream event sources, run as Lambda's event source mapping runs them: a
thread per mapping reads the table's stream from local AWS, keeps what its ``FilterCriteria`` match,
and hands batches to the function through its execution environments, in order, resuming from the
first failed record (``swapgate_dev.streams.StreamSource`` does the reading, filtering and resuming).

A batch that keeps failing is offered again with a growing pause (up to 10 s); the mapping's retry
limit and ``OnFailure`` destination are not emulated (the records are retried instead of dropped).
"""

from __future__ import annotations

import logging
from typing import Any

from swapgate_dev.local.poll_loop import PollLoop
from swapgate_dev.streams import StreamMapping, StreamSource

log = logging.getLogger("swapgate_dev.local.streams")


class StreamEventSource(PollLoop):
    """One ``Type: DynamoDB`` event: ``invoke(event) -> response`` for each batch."""

    kind = "stream"

    def __init__(self, source: StreamSource, invoke: Any, *, name: str, idle_seconds: float = 0.2) -> None:
        super().__init__(name, idle_seconds)
        self.source = source
        self.invoke = invoke

    @classmethod
    def for_mapping(
        cls, mapping: StreamMapping, *, streams: Any, dynamodb: Any, table_name: str, invoke: Any
    ) -> StreamEventSource:
        source = StreamSource.for_table(streams, dynamodb, table_name, mapping)
        return cls(source, invoke, name=f"{mapping.table_id}->{mapping.function_id}")

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
