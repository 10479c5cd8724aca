"""A DynamoDB stream event source, as Lambda's event source mapping runs it, for tests (and a base for
the local stack's emulation).

:class:`StreamSource` reads a table's stream (moto's, or any endpoint boto3 points at), keeps the
records the mapping's ``FilterCriteria`` match (EventBridge patterns, evaluated by moto's matcher),
hands them to a handler in batches of ``BatchSize`` in the Lambda event shape, and with
``ReportBatchItemFailures`` resumes from the first failed record: a failed record and every record
after it come again on the next :meth:`StreamSource.pump`. :func:`stream_mappings` reads the
template's ``Type: DynamoDB`` events.

Not emulated (yet): ``MaximumRetryAttempts``, ``BisectBatchOnFunctionError`` and the ``OnFailure``
destination; a failing record here is simply offered again on every pump.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from swapgate_dev.local.sam import SamTemplate


@dataclass(frozen=True)
class StreamMapping:
    """One ``Type: DynamoDB`` event of a template function."""

    function_id: str
    table_id: str  # the logical id the event's Stream (!GetAtt <table>.StreamArn) names
    batch_size: int
    starting_position: str
    filters: tuple[str, ...]  # raw patterns
    report_batch_item_failures: bool


def stream_mappings(template: SamTemplate) -> list[StreamMapping]:
    mappings = []
    for function in template.functions().values():
        for event in function.events.values():
            if event.get("Type") != "DynamoDB":
                continue
            props = event.get("Properties") or {}
            stream = props["Stream"]
            table_id = stream["Fn::GetAtt"][0] if isinstance(stream, dict) else str(stream).split(".")[0]
            filters = (props.get("FilterCriteria") or {}).get("Filters") or []
            mappings.append(
                StreamMapping(
                    function_id=function.logical_id,
                    table_id=table_id,
                    batch_size=int(props.get("BatchSize", 100)),
                    starting_position=str(props.get("StartingPosition", "LATEST")),
                    filters=tuple(str(item["Pattern"]) for item in filters),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (props.get("FunctionResponseTypes") or []),
                )
            )
    return mappings


def _event_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda hands it to the function (JSON-safe, with its source ARN)."""
    record = json.loads(json.dumps(record, default=_json_default))
    record["eventSourceARN"] = stream_arn
    return record


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass
class StreamSource:
    """The stream of one table feeding one handler (``handler(event) -> response``)."""

    streams: Any  # a boto3 dynamodbstreams client
    stream_arn: str
    mapping: StreamMapping
    _iterators: dict[str, str | None] = field(default_factory=dict)
    _pending: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def for_table(cls, streams: Any, dynamodb: Any, table_name: str, mapping: StreamMapping) -> StreamSource:
        arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        return cls(streams=streams, stream_arn=arn, mapping=mapping)

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether any of the mapping's filters keeps the record (no filters: every record)."""
        if not self.mapping.filters:
            return True
        from moto.events.models import EventPattern

        return any(EventPattern.load(raw).matches_event(record) for raw in self.mapping.filters)

    def read(self) -> list[dict[str, Any]]:
        """New records of every shard, in order, filtered; added to those still pending."""
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description["Shards"]:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn,
                    ShardId=shard_id,
                    ShardIteratorType=self.mapping.starting_position,
                )["ShardIterator"]
            while self._iterators[shard_id]:
                answer = self.streams.get_records(ShardIterator=self._iterators[shard_id], Limit=1000)
                self._iterators[shard_id] = answer.get("NextShardIterator")
                records = [_event_record(r, self.stream_arn) for r in answer.get("Records", [])]
                self._pending.extend(r for r in records if self.matches(r))
                if not records:
                    break
        return list(self._pending)

    def pump(self, handler: Callable[[dict[str, Any]], dict[str, Any] | None]) -> list[dict[str, Any]]:
        """Hand every pending record to ``handler`` in batches; returns the handler's responses.

        A batch whose response reports failures stops the pump there: its first failed record and
        everything after it stay pending (Lambda retries a shard from the failed record, in order).
        A handler that raises leaves the whole batch pending and the exception goes up."""
        self.read()
        responses = []
        while self._pending:
            batch = self._pending[: self.mapping.batch_size]
            response = handler({"Records": batch}) or {}
            responses.append(response)
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            if failed and self.mapping.report_batch_item_failures:
                first = min(
                    index
                    for index, record in enumerate(batch)
                    if record["dynamodb"]["SequenceNumber"] in failed
                )
                del self._pending[:first]
                break
            del self._pending[: len(batch)]
        return responses
