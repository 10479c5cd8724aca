"""The batch record: its rules (object versions, what an event means for a record) and its store
against a moto table with the jobs table's key schema."""

from __future__ import annotations

import re
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws
from swapgate import keys
from swapgate.inbox.batches import (
    LEASE_SECONDS,
    BatchInProgress,
    BatchRecord,
    BatchStore,
    decide,
    object_version,
)
from swapgate.jobs import JobStore

KEY = "inbox/team a/batch.json"


def test_sequencers_compare_after_right_padding():
    short, _ = object_version(None, "0065A4F1B2")
    longer, ordered = object_version("etag", "0065A4F1B2C3")
    assert ordered and short < longer
    assert object_version('"abc"', None) == ("e:abc", False)


@pytest.mark.parametrize(
    ("record", "version", "ordered", "decision"),
    [
        (None, "s:2", True, "new"),
        ({"version": "s:2", "state": "started"}, "s:2", True, "duplicate"),
        ({"version": "s:2", "state": "done"}, "s:2", True, "duplicate"),
        ({"version": "s:2", "state": "starting", "lease_until": 50}, "s:2", True, "resume"),
        ({"version": "s:2", "state": "starting", "lease_until": 500}, "s:2", True, "busy"),
        ({"version": "s:3", "state": "done"}, "s:2", True, "stale"),
        ({"version": "s:1", "state": "started"}, "s:2", True, "new"),
        ({"version": "e:old", "state": "done"}, "e:new", False, "new"),
    ],
)
def test_duplicate_event_decisions(record, version, ordered, decision):
    stored = None if record is None else BatchRecord.from_item({"id": "manifest#inbox/x.json", **record})
    assert decide(stored, version, ordered, now=100) == decision


def test_record_from_a_stored_item():
    record = BatchRecord.from_item(
        {
            "id": keys.manifest_record_id(KEY),
            "version": "e:abc",
            "state": "starting",
            "lease_until": Decimal(1700000900),
            "total": Decimal(2),
            "entries": [{"job_id": "job_1"}, {"error": {"code": "x", "message": "y"}}, {"job_id": "job_3"}],
        }
    )
    assert record.manifest_key == KEY and record.lease_until == 1700000900 and record.total == 2
    assert record.job_ids == ["job_1", "job_3"]


@pytest.fixture
def batches():
    with mock_aws():
        table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="jobs",
            KeySchema=[{"AttributeName": keys.PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": keys.PARTITION_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield BatchStore.beside(JobStore(table))


def stored(batches: BatchStore) -> dict:
    return batches.table.get_item(Key={"id": keys.manifest_record_id(KEY)})["Item"]


def test_a_claim_writes_a_starting_record_under_the_manifest_id(batches, monkeypatch):
    monkeypatch.setenv("SWAPGATE_RETENTION_DAYS", "2")
    assert batches.get(KEY) is None

    record = batches.claim(KEY, "e:abc", ordered=False, resume=False, total=3, now=1000.5)

    item = stored(batches)
    assert item["kind"] == "manifest" and item["manifest_key"] == KEY
    assert item["state"] == "starting" and item["claim"] == record.claim and record.claim
    assert item["lease_until"] == 1000 + LEASE_SECONDS and item["total"] == 3 and item["entries"] == []
    assert 0 <= item["expires_at"] - keys.expires_at() <= 1 and keys.retention_days() == 2
    assert batches.get(KEY) == record


def test_one_version_is_claimed_once_and_only_newer_sequencers_replace_it(batches):
    assert batches.claim(KEY, "e:abc", ordered=False, resume=False, total=1, now=0) is not None
    assert batches.claim(KEY, "e:abc", ordered=False, resume=False, total=1, now=0) is None
    assert batches.claim(KEY, "e:other", ordered=False, resume=False, total=1, now=0) is not None

    first, older, newer = "s:" + "2" * 64, "s:" + "1" * 64, "s:" + "3" * 64
    assert batches.claim(KEY, first, ordered=True, resume=False, total=1, now=0) is not None
    assert batches.claim(KEY, older, ordered=True, resume=False, total=1, now=0) is None
    assert batches.claim(KEY, first, ordered=True, resume=False, total=1, now=0) is None
    assert batches.claim(KEY, newer, ordered=True, resume=False, total=1, now=0) is not None
    assert batches.get(KEY).version == newer


def test_the_holder_records_its_jobs_and_ends_the_lease(batches):
    record = batches.claim(KEY, "e:abc", ordered=False, resume=False, total=2, now=0)

    batches.append(record, {"job_id": "job_1"})
    batches.append(record, {"error": {"code": "provider_busy", "message": "later"}})
    batches.set_started(record)

    item = stored(batches)
    assert item["entries"] == [{"job_id": "job_1"}, {"error": {"code": "provider_busy", "message": "later"}}]
    assert item["state"] == "started" and "lease_until" not in item
    assert record.entries == item["entries"] and record.state == "started"
    assert batches.mark_done(record) and stored(batches)["state"] == "done"


def test_a_lapsed_lease_is_resumed_with_a_new_claim_and_the_old_holder_is_refused(batches):
    dead = batches.claim(KEY, "e:abc", ordered=False, resume=False, total=2, now=0)
    batches.append(dead, {"job_id": "job_1"})

    assert batches.claim(KEY, "e:abc", ordered=False, resume=True, total=2, now=LEASE_SECONDS - 1) is None
    resumed = batches.claim(KEY, "e:abc", ordered=False, resume=True, total=2, now=LEASE_SECONDS + 1)

    assert resumed.claim != dead.claim and resumed.entries == [{"job_id": "job_1"}]
    assert resumed.lease_until == 2 * LEASE_SECONDS + 1
    with pytest.raises(BatchInProgress, match=re.escape(f"lost the claim on {KEY}")):
        batches.append(dead, {"job_id": "job_2"})
    with pytest.raises(BatchInProgress):
        batches.set_started(dead)
    batches.append(resumed, {"job_id": "job_2"})
    assert stored(batches)["entries"] == [{"job_id": "job_1"}, {"job_id": "job_2"}]


def test_done_is_not_written_over_a_newer_version(batches):
    old = batches.claim(KEY, "e:old", ordered=False, resume=False, total=1, now=0)
    batches.set_started(old)
    batches.claim(KEY, "e:new", ordered=False, resume=False, total=1, now=0)

    assert batches.mark_done(old) is False
    assert stored(batches)["state"] == "starting" and stored(batches)["version"] == "e:new"
