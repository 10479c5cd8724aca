"""Each job of a manifest starts exactly once and is recorded before it starts, across a trigger that
dies half-way and the queue's retries: the batch record names every job's id (derived from the
manifest version and the job's index) when it is claimed, and submit with that id never submits a job
that exists."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from swapgate import keys
from swapgate.errors import ServiceUnavailable
from swapgate.inbox.batches import object_version
from swapgate.keys import manifest_record_id

FACESWAP = "/api/aifaceswap/v1/faceswap"


def batch(stack, key: str) -> dict:
    return stack.table.get_item(Key={"id": manifest_record_id(key)}, ConsistentRead=True)["Item"]


def put_manifest(stack, key: str, jobs: int) -> str:
    face = stack.put_face("inbox/p/a.jpg")
    return stack.put(key, {"jobs": [{"source_image": face, "face_image": face}] * jobs})["ETag"]


def test_every_job_id_is_recorded_before_the_first_job_starts(stack, monkeypatch):
    etag = put_manifest(stack, "inbox/three.json", 3)
    gateway = stack.trigger_module.inbox().gateway
    submit, seen = gateway.submit, []

    def watching(request, public_url, *, job_id=None):
        seen.append([entry["job_id"] for entry in batch(stack, "inbox/three.json")["entries"]])
        return submit(request, public_url, job_id=job_id)

    monkeypatch.setattr(gateway, "submit", watching)
    assert stack.run_trigger() == {"batchItemFailures": []}

    version, _ = object_version(etag, None)
    expected = [keys.inbox_job_id("inbox/three.json", version, index) for index in range(3)]
    assert seen == [expected] * 3  # the record named all three before any was submitted
    assert sorted(job["id"] for job in stack.jobs()) == sorted(expected)


def test_a_trigger_dying_after_the_provider_accepted_a_job_never_submits_it_again(
    stack, fake_aifaceswap, monkeypatch
):
    """The trigger dies right after the provider took job 0 (before the job left queued): the queue's
    retry resumes once the lease has run out, finds job 0 and starts only job 1."""
    put_manifest(stack, "inbox/two.json", 2)
    gateway = stack.trigger_module.inbox().gateway
    accepted = gateway._accepted

    def die(job, **changes):
        raise SystemExit("the trigger's Lambda was killed")

    monkeypatch.setattr(gateway, "_accepted", die)
    messages = stack.receive("InboxQueue")
    with pytest.raises(SystemExit):
        stack.invoke(stack.trigger_module, "InboxQueue", messages)
    assert len(fake_aifaceswap.requests_to(FACESWAP)) == 1
    (queued,) = stack.jobs()
    assert queued["status"] == "queued"

    monkeypatch.setattr(gateway, "_accepted", accepted)
    stack.table.update_item(  # the dead trigger's lease runs out
        Key={"id": manifest_record_id("inbox/two.json")},
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": int(time.time()) - 1},
    )
    for message in messages:
        stack.make_visible("InboxQueue", message)
    assert stack.run_trigger() == {"batchItemFailures": []}

    assert len(fake_aifaceswap.requests_to(FACESWAP)) == 2  # job 0 once, job 1 once
    record = batch(stack, "inbox/two.json")
    assert record["state"] == "started"
    assert sorted(entry["job_id"] for entry in record["entries"]) == sorted(job["id"] for job in stack.jobs())
    # both webhooks end the jobs (job 0 from queued), and the batch's result lists both
    assert [status for status, _ in stack.deliver_callbacks(2)] == [200, 200]
    assert stack.run_notify() == {"batchItemFailures": []}
    result = stack.read_json("outbox/two.result.json")
    assert result["succeeded"] == 2 and [row["id"] for row in result["jobs"]] == [
        entry["job_id"] for entry in record["entries"]
    ]


def test_a_duplicate_event_after_the_batch_started_starts_nothing(stack, fake_aifaceswap):
    put_manifest(stack, "inbox/dup.json", 2)
    messages = stack.receive("InboxQueue")
    assert stack.invoke(stack.trigger_module, "InboxQueue", messages) == {"batchItemFailures": []}
    manifest = next(m for m in messages if "dup.json" in m["Body"])

    stack.send("InboxQueue", manifest["Body"])  # S3 delivered the event twice
    assert stack.run_trigger() == {"batchItemFailures": []}

    assert len(stack.jobs()) == 2 and len(fake_aifaceswap.requests_to(FACESWAP)) == 2


def test_a_job_that_cannot_start_has_its_error_recorded_under_its_entry(stack, fake_aifaceswap, monkeypatch):
    put_manifest(stack, "inbox/half.json", 2)
    gateway = stack.trigger_module.inbox().gateway
    submit = gateway.submit

    def second_fails(request, public_url, *, job_id=None):
        if job_id == batch(stack, "inbox/half.json")["entries"][1]["job_id"]:
            raise ServiceUnavailable("the job could not be started; nothing was created, try again")
        return submit(request, public_url, job_id=job_id)

    monkeypatch.setattr(gateway, "submit", second_fails)
    assert stack.run_trigger() == {"batchItemFailures": []}

    record = batch(stack, "inbox/half.json")
    assert record["entries"][1]["error"]["code"] == "service_unavailable"
    (job,) = stack.jobs()
    assert job["id"] == record["entries"][0]["job_id"]
    stack.deliver_callbacks(1)
    assert stack.run_notify() == {"batchItemFailures": []}
    rows = stack.read_json("outbox/half.result.json")["jobs"]
    assert rows[0]["status"] == "succeeded"
    assert rows[1] == {
        "index": 1,
        "id": None,
        "status": "failed",
        "provider": None,
        "result_key": None,
        "error": {
            "code": "service_unavailable",
            "message": "the job could not be started; nothing was created, try again",
        },
    }


def test_a_throttled_read_of_a_manifest_image_retries_the_event_instead_of_rejecting_it(
    stack, fake_aifaceswap
):
    """S3 throttling (or a 500) while the manifest's images are checked is our trouble, not a bad
    manifest: no error file, nothing started, the event comes back and then starts the job."""
    put_manifest(stack, "inbox/busy.json", 1)
    s3 = stack.trigger_module.inbox().storage.s3
    throttled: list[str] = []

    def slow_down(params, **_):
        if params.get("Range") and not throttled:  # the image check reads the first bytes
            throttled.append(params["Key"])
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "GetObject"
            )

    s3.meta.events.register("before-parameter-build.s3.GetObject", slow_down)
    messages = stack.receive("InboxQueue")
    answer = stack.invoke(stack.trigger_module, "InboxQueue", messages)

    manifest_id = next(m["MessageId"] for m in messages if "busy.json" in m["Body"])
    assert throttled == ["inbox/p/a.jpg"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": manifest_id}]}
    assert stack.keys("outbox/") == [] and stack.jobs() == []
    for message in messages:
        if message["MessageId"] == manifest_id:
            stack.make_visible("InboxQueue", message)
    assert stack.run_trigger() == {"batchItemFailures": []}
    assert [job["status"] for job in stack.jobs()] == ["running"]
    assert len(fake_aifaceswap.requests_to(FACESWAP)) == 1


def test_an_empty_image_object_is_a_problem_of_the_manifest(stack):
    stack.put("inbox/p/empty.jpg", b"")
    stack.put("inbox/empty.json", {"source_image": "inbox/p/empty.jpg", "face_image": "inbox/p/empty.jpg"})
    assert stack.run_trigger() == {"batchItemFailures": []}
    (problem, *_) = stack.read_json("outbox/empty.error.json")["errors"]
    assert problem["field"] == "source_image" and "cannot be read" in problem["message"]
