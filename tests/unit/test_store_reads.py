"""Reads the inbox relies on, against moto: many jobs at once (JobStore.get_many) and one object of a
known version, size-capped (Storage.read_object)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from swapgate import jobs, keys
from swapgate.errors import ObjectTooLarge
from swapgate.jobs import Job, JobStore, UnprocessedReads
from swapgate.retry import Backoff
from swapgate.storage import Storage

REGION = "us-east-1"


def seed(store: JobStore, count: int) -> list[str]:
    ids = []
    with store.table.batch_writer() as batch:
        for _ in range(count):
            job = Job(id=keys.new_job_id(), provider="aifaceswap", operation="swap")
            batch.put_item(Item=job.to_item())
            ids.append(job.id)
    return ids


def test_many_jobs_are_read_in_batches_of_a_hundred(store, monkeypatch):
    ids = seed(store, 150)
    store.table.put_item(Item={"id": keys.manifest_record_id("inbox/a.json"), "state": "done"})
    client = store.table.meta.client
    real, sizes = client.batch_get_item, []

    def counted(**kwargs):
        sizes.append(len(kwargs["RequestItems"]["jobs"]["Keys"]))
        return real(**kwargs)

    monkeypatch.setattr(client, "batch_get_item", counted)
    asked = [*ids, ids[0], "job_missing", keys.manifest_record_id("inbox/a.json")]

    found = store.get_many(asked)

    assert sorted(found) == sorted(ids) and found[ids[7]].provider == "aifaceswap"
    assert sizes == [100, 52]  # duplicates asked once; the manifest record is no job
    assert store.get_many([]) == {}


def test_keys_left_unprocessed_are_asked_for_again(store, monkeypatch):
    ids = seed(store, 5)
    client = store.table.meta.client
    real, sizes = client.batch_get_item, []

    def partial(**kwargs):  # DynamoDB under load answers part of a request
        request = kwargs["RequestItems"]["jobs"]
        sizes.append(len(request["Keys"]))
        first, rest = request["Keys"][:2], request["Keys"][2:]
        answer = real(RequestItems={"jobs": {**request, "Keys": first}})
        answer["UnprocessedKeys"] = {"jobs": {**request, "Keys": rest}} if rest else {}
        return answer

    monkeypatch.setattr(client, "batch_get_item", partial)
    monkeypatch.setattr(jobs, "BATCH_GET_BACKOFF", Backoff(base=0, cap=0))

    assert sorted(store.get_many(ids)) == sorted(ids)
    assert sizes == [5, 3, 1]


def test_reads_left_unprocessed_after_every_try_fail(store, monkeypatch):
    ids = seed(store, 1)
    client = store.table.meta.client
    calls = []

    def refused(**kwargs):
        calls.append(kwargs)
        return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"]}

    monkeypatch.setattr(client, "batch_get_item", refused)
    monkeypatch.setattr(jobs, "BATCH_GET_BACKOFF", Backoff(base=0, cap=0))

    with pytest.raises(UnprocessedReads, match="unprocessed"):
        store.get_many(ids)
    assert len(calls) == jobs.BATCH_GET_ATTEMPTS


@pytest.fixture
def storage():
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="bucket-1")
        yield Storage(bucket="bucket-1", s3=s3)


def test_an_object_is_read_only_in_the_version_asked_for(storage):
    etag = storage.s3.put_object(Bucket="bucket-1", Key="inbox/a.json", Body=b"{}")["ETag"]

    assert storage.read_object("inbox/a.json") == b"{}"
    assert storage.read_object("inbox/a.json", etag=etag) == b"{}"
    assert storage.read_object("inbox/a.json", etag=etag.strip('"')) == b"{}"
    storage.s3.put_object(Bucket="bucket-1", Key="inbox/a.json", Body=b"{ }")
    assert storage.read_object("inbox/a.json", etag=etag) is None  # replaced
    assert storage.read_object("inbox/gone.json") is None


def test_an_object_over_the_limit_is_refused(storage):
    storage.s3.put_object(Bucket="bucket-1", Key="big", Body=b"x" * 11)
    storage.s3.put_object(Bucket="bucket-1", Key="fits", Body=b"x" * 10)

    assert storage.read_object("fits", max_bytes=10) == b"x" * 10
    with pytest.raises(ObjectTooLarge):
        storage.read_object("big", max_bytes=10)
