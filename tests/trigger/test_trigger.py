"""The S3 inbox trigger through the real handlers: manifest in -> jobs -> fake provider -> callback ->
notify -> results/ and outbox/. S3 events are the ones moto sends to the inbox queue for real puts,
or tests/events/trigger_s3_sqs.json."""

from __future__ import annotations

import copy
import json
import time

import pytest
from support import BUCKET, EVENTS, WEBHOOK_SECRET, lambda_context
from swapgate.gateway import Gateway, ImageSource, SubmitRequest
from swapgate.inbox.batches import LEASE_SECONDS
from swapgate.keys import manifest_record_id
from swapgate.providers.base import Operation
from swapgate.signing import verify_webhook

FACESWAP = "/api/aifaceswap/v1/faceswap"
MULTI = "/api/aifaceswap/v1/multi_faceswap"
TTAPI_SWAP = "/insightFace/v1/swap"


def provider_requests(fake_aifaceswap, fake_ttapi) -> int:
    return sum(
        len(fake.requests_to(path))
        for fake, path in ((fake_aifaceswap, FACESWAP), (fake_aifaceswap, MULTI), (fake_ttapi, TTAPI_SWAP))
    )


def example_event(key_encoded: str, etag: str, sequencer: str) -> dict:
    """tests/events/trigger_s3_sqs.json, pointed at the test bucket and one object."""
    event = json.loads((EVENTS / "trigger_s3_sqs.json").read_text())
    record = event["Records"][0]
    body = json.loads(record["body"])
    s3 = body["Records"][0]["s3"]
    s3["bucket"]["name"] = BUCKET
    s3["bucket"]["arn"] = f"arn:aws:s3:::{BUCKET}"
    s3["object"].update({"key": key_encoded, "eTag": etag, "sequencer": sequencer})
    record["body"] = json.dumps(body)
    return event


def test_single_manifest_runs_to_a_result_file(stack, fake_aifaceswap):
    source = stack.put_face("inbox/photos/source.png", "astronaut.png")
    face = stack.put_face("inbox/photos/face.jpg", "grace_hopper.jpg")
    stack.put("inbox/batch1.json", {"source_image": source, "face_image": face})

    # the three objects each reached the trigger through the inbox queue; only the manifest counts
    assert stack.run_trigger() == {"batchItemFailures": []}
    (job,) = stack.jobs()
    assert job["origin"] == "inbox" and job["manifest_key"] == "inbox/batch1.json"
    assert job["status"] == "running" and job["provider"] == "aifaceswap"
    (sent,) = fake_aifaceswap.requests_to(FACESWAP)
    assert "inbox/photos/source.png" in sent.json["source_image"]
    assert "inbox/photos/face.jpg" in sent.json["face_image"]
    assert stack.keys("outbox/") == []

    ((status, body),) = stack.deliver_callbacks(1)
    assert status == 200 and body["status"] == "succeeded"
    assert stack.run_notify() == {"batchItemFailures": []}

    result = stack.read_json("outbox/batch1.result.json")
    assert result["manifest"] == "inbox/batch1.json"
    assert result["total"] == 1 and result["succeeded"] == 1
    assert result["jobs"] == [
        {
            "index": 0,
            "id": job["id"],
            "status": "succeeded",
            "provider": "aifaceswap",
            "result_key": f"results/{job['id']}.png",
            "error": None,
        }
    ]
    assert stack.keys("results/") == [f"results/{job['id']}.png"]
    assert stack.keys("outbox/") == ["outbox/batch1.result.json"]


def test_batch_result_lists_jobs_in_manifest_order_once_the_last_one_ended(
    stack, fake_aifaceswap, fake_ttapi
):
    source = stack.put_face("inbox/b/group.jpg", "two_faces.jpg")
    face = stack.put_face("uploads/face.jpg", "grace_hopper.jpg")
    fake_ttapi.inject("job_failed", message="content violation")
    manifest = {
        "jobs": [
            {"source_image": source, "face_image": face},
            {"source_image": source, "face_image": face, "provider": "ttapi"},
            {"source_image": source, "face_images": [face, face], "indexes": [0, 2]},
        ]
    }
    stack.put("inbox/b/batch.json", manifest)

    assert stack.run_trigger() == {"batchItemFailures": []}
    jobs = {job["id"]: job for job in stack.jobs()}
    assert len(jobs) == 3 and {job["status"] for job in jobs.values()} == {"running"}
    assert len(fake_aifaceswap.requests_to(FACESWAP)) == 1
    assert len(fake_aifaceswap.requests_to(MULTI)) == 1
    assert len(fake_ttapi.requests_to(TTAPI_SWAP)) == 1
    record = stack.table.get_item(Key={"id": manifest_record_id("inbox/b/batch.json")})["Item"]
    ids = [entry["job_id"] for entry in record["entries"]]
    assert record["state"] == "started" and set(ids) == set(jobs)

    # two of three ended: no result yet
    stack.deliver_callbacks(2)
    assert stack.run_notify() == {"batchItemFailures": []}
    assert stack.keys("outbox/") == []

    stack.deliver_callbacks(1)
    assert stack.run_notify() == {"batchItemFailures": []}
    result = stack.read_json("outbox/b/batch.result.json")
    assert [row["id"] for row in result["jobs"]] == ids
    assert [row["index"] for row in result["jobs"]] == [0, 1, 2]
    assert [row["provider"] for row in result["jobs"]] == ["aifaceswap", "ttapi", "aifaceswap"]
    assert [row["status"] for row in result["jobs"]] == ["succeeded", "failed", "succeeded"]
    assert result["jobs"][1]["result_key"] is None
    assert result["jobs"][1]["error"]["message"] == "content violation"
    assert result["jobs"][2]["result_key"] == f"results/{ids[2]}.png"
    assert result["succeeded"] == 2 and result["total"] == 3
    assert stack.keys("results/") == sorted(f"results/{i}.png" for i in (ids[0], ids[2]))
    record = stack.table.get_item(Key={"id": manifest_record_id("inbox/b/batch.json")})["Item"]
    assert record["state"] == "done"


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (b"{not json", [{"job": None, "field": None, "code": "invalid_json"}]),
        (b"[1, 2]", [{"job": None, "field": None, "code": "invalid_request"}]),
        ({"source_image": "inbox/p/a.jpg"}, [{"job": 0, "field": "face_image", "code": "invalid_request"}]),
        (
            {"source_image": "inbox/p/a.jpg", "face_image": "inbox/p/a.jpg", "colour": "red"},
            [{"job": 0, "field": "colour", "code": "invalid_request"}],
        ),
        (
            {"source_image": "inbox/p/a.jpg", "face_image": "inbox/p/missing.jpg"},
            [{"job": 0, "field": "face_image", "code": "invalid_image"}],
        ),
        (
            {"source_image": "inbox/p/notes.txt", "face_image": "inbox/p/a.jpg"},
            [{"job": 0, "field": "source_image", "code": "invalid_image"}],
        ),
        (
            {"source_image": "inbox/p/a.jpg", "face_images": ["inbox/p/a.jpg"]},
            [{"job": 0, "field": "indexes", "code": "invalid_request"}],
        ),
        ({"jobs": []}, [{"job": None, "field": "jobs", "code": "invalid_request"}]),
        (
            {"jobs": [{"source_image": "inbox/p/a.jpg", "face_image": "inbox/p/a.jpg"}] * 101},
            [{"job": None, "field": "jobs", "code": "invalid_request"}],
        ),
        (
            {"jobs": [], "webhook": "https://x"},
            [{"job": None, "field": "webhook", "code": "invalid_request"}],
        ),
        (
            {
                "jobs": [
                    {"source_image": "inbox/p/a.jpg", "face_image": "inbox/p/a.jpg"},
                    {"source_image": "inbox/p/a.jpg", "face_image": "inbox/p/a.jpg", "provider": "deepfake"},
                    {"source_image": "inbox/p/a.jpg", "face_image": "inbox/p/a.jpg", "webhook": "ftp://x/y"},
                    {"source_image": 7, "face_image": "inbox/p/a.jpg"},
                ]
            },
            [
                {"job": 1, "field": "jobs[1].provider", "code": "invalid_request"},
                {"job": 2, "field": "jobs[2].webhook", "code": "invalid_request"},
                {"job": 3, "field": "jobs[3].source_image", "code": "invalid_request"},
            ],
        ),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "missing-face",
        "extra-field",
        "missing-key",
        "not-an-image",
        "multi-without-indexes",
        "empty-batch",
        "too-many-jobs",
        "extra-field-next-to-jobs",
        "batch-with-bad-jobs",
    ],
)
def test_bad_manifest_writes_only_an_error_file(stack, fake_aifaceswap, fake_ttapi, manifest, expected):
    stack.put_face("inbox/p/a.jpg")
    stack.put("inbox/p/notes.txt", "not an image")
    stack.put("inbox/bad.json", manifest)

    assert stack.run_trigger() == {"batchItemFailures": []}

    assert stack.keys("outbox/") == ["outbox/bad.error.json"]
    report = stack.read_json("outbox/bad.error.json")
    assert report["manifest"] == "inbox/bad.json"
    assert [{k: p[k] for k in ("job", "field", "code")} for p in report["errors"]] == expected
    assert all(p["message"] for p in report["errors"])
    assert stack.jobs() == []
    assert provider_requests(fake_aifaceswap, fake_ttapi) == 0
    assert "Item" not in stack.table.get_item(Key={"id": manifest_record_id("inbox/bad.json")})


def test_error_messages_say_what_is_wrong(stack):
    stack.put_face("inbox/p/a.jpg")
    stack.put(
        "inbox/bad.json",
        {"jobs": [{"source_image": "inbox/p/a.jpg", "face_image": "inbox/p/nope.jpg", "extra": 1}]},
    )
    stack.run_trigger()
    errors = stack.read_json("outbox/bad.error.json")["errors"]
    assert errors == [
        {
            "job": 0,
            "field": "jobs[0].extra",
            "code": "invalid_request",
            "message": "jobs[0].extra is not an accepted field",
        }
    ]
    stack.put("inbox/bad.json", {"source_image": "inbox/p/a.jpg", "face_image": "inbox/p/nope.jpg"})
    stack.run_trigger()
    (error,) = stack.read_json("outbox/bad.error.json")["errors"]
    assert error["message"] == "face_image: no object 'inbox/p/nope.jpg' in the bucket"


def test_images_and_other_objects_under_inbox_are_ignored(stack, fake_aifaceswap):
    stack.put_face("inbox/photos/a.jpg")
    stack.put("inbox/readme.txt", "hello")
    stack.put("inbox/folder/", b"")
    assert stack.depth("InboxQueue") == 4  # and the s3:TestEvent S3 sends when notifications are set

    assert stack.run_trigger() == {"batchItemFailures": []}

    assert stack.depth("InboxQueue") == 0
    assert stack.keys("outbox/") == [] and stack.jobs() == []
    assert fake_aifaceswap.requests == []


def test_url_encoded_keys_are_decoded(stack):
    face = stack.put_face("inbox/my photos/grace hopper+1.jpg")
    stack.put("inbox/team a/batch (1)+x.json", {"source_image": face, "face_image": face})
    (message,) = stack.receive("InboxQueue")[-1:]  # moto sends the keys quote_plus-encoded, as S3 does
    key = json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"]
    assert "+" in key and "%28" in key and " " not in key
    stack.make_visible("InboxQueue", message)

    assert stack.run_trigger() == {"batchItemFailures": []}
    (job,) = stack.jobs()
    assert job["manifest_key"] == "inbox/team a/batch (1)+x.json"
    stack.deliver_callbacks(1)
    stack.run_notify()
    result = stack.read_json("outbox/team a/batch (1)+x.result.json")
    assert result["jobs"][0]["status"] == "succeeded"


def test_duplicate_s3_event_starts_the_batch_once(stack, fake_aifaceswap):
    face = stack.put_face("inbox/p/a.jpg")
    stack.put("inbox/once.json", {"jobs": [{"source_image": face, "face_image": face}] * 2})
    messages = stack.receive("InboxQueue")
    manifest_message = next(m for m in messages if "once.json" in m["Body"])
    for message in messages:
        stack.make_visible("InboxQueue", message)
    stack.send("InboxQueue", manifest_message["Body"])  # S3 delivered the same event twice

    assert stack.run_trigger() == {"batchItemFailures": []}
    assert len(stack.jobs()) == 2
    assert len(fake_aifaceswap.requests_to(FACESWAP)) == 2

    stack.send("InboxQueue", manifest_message["Body"])  # and once more, later
    assert stack.run_trigger() == {"batchItemFailures": []}
    assert len(stack.jobs()) == 2
    assert len(fake_aifaceswap.requests_to(FACESWAP)) == 2


def test_example_event_sequencers_order_uploads(stack, fake_aifaceswap):
    face = stack.put_face("inbox/p/a.jpg")
    key = "inbox/team a/batch(1).json"
    etag = stack.put(key, {"source_image": face, "face_image": face})["ETag"].strip('"')
    for message in stack.receive("InboxQueue"):  # drain moto's own events: this test sends its own
        stack.sqs.delete_message(
            QueueUrl=stack.queue_urls["InboxQueue"], ReceiptHandle=message["ReceiptHandle"]
        )
    context = lambda_context()
    first = example_event("inbox/team+a/batch%281%29.json", etag, "0065A4F1B2C3D4E5F6")

    # the example file: the manifest event and an s3:TestEvent (ignored)
    assert stack.trigger_module.handler(first, context) == {"batchItemFailures": []}
    (job,) = stack.jobs()
    assert job["manifest_key"] == key
    # the same event again: nothing new
    assert stack.trigger_module.handler(copy.deepcopy(first), context) == {"batchItemFailures": []}
    assert len(stack.jobs()) == 1
    stack.deliver_callbacks(1)
    stack.run_notify()
    assert stack.keys("outbox/") == ["outbox/team a/batch(1).result.json"]

    # the same content uploaded again: a later sequencer starts a new run and clears the old outbox
    newer = example_event("inbox/team+a/batch%281%29.json", etag, "0065A4F1B2C3D4E5F7")
    assert stack.trigger_module.handler(newer, context) == {"batchItemFailures": []}
    assert len(stack.jobs()) == 2
    assert stack.keys("outbox/") == []
    # an older event arriving late changes nothing
    older = example_event("inbox/team+a/batch%281%29.json", etag, "0065A4F1B2C3D4E5")
    assert stack.trigger_module.handler(older, context) == {"batchItemFailures": []}
    assert len(stack.jobs()) == 2
    assert len(fake_aifaceswap.requests_to(FACESWAP)) == 2


def test_event_for_a_replaced_object_is_skipped(stack):
    face = stack.put_face("inbox/p/a.jpg")
    stack.put("inbox/x.json", {"source_image": face, "face_image": "inbox/p/nope.jpg"})
    stack.put("inbox/x.json", {"source_image": face, "face_image": face})
    # two events: the first names the replaced version's ETag; it must neither report the old
    # version's problem nor start the new content (the second event does that, once)
    assert stack.run_trigger() == {"batchItemFailures": []}
    assert len(stack.jobs()) == 1
    assert stack.keys("outbox/") == []


def _seed_half_started(stack, key: str, etag: str, lease_until: int) -> str:
    """What a trigger that died after its first job leaves: one recorded job, a 'starting' record."""
    face = "inbox/p/a.jpg"
    job = Gateway.from_env().submit(
        SubmitRequest(
            operation=Operation.SWAP,
            source=ImageSource("source_image", key=face),
            faces=[ImageSource("face_image", key=face)],
            origin="inbox",
            manifest_key=key,
        ),
        stack.callbacks.base_url,
    )
    stack.table.put_item(
        Item={
            "id": manifest_record_id(key),
            "kind": "manifest",
            "manifest_key": key,
            "version": "e:" + etag,
            "state": "starting",
            "claim": "dead-trigger",
            "lease_until": lease_until,
            "total": 2,
            "entries": [{"job_id": job.id}],
        }
    )
    return job.id


def test_a_batch_left_half_started_is_resumed_after_its_lease(stack, fake_aifaceswap):
    face = stack.put_face("inbox/p/a.jpg")
    etag = stack.put("inbox/r.json", {"jobs": [{"source_image": face, "face_image": face}] * 2})["ETag"]
    first = _seed_half_started(stack, "inbox/r.json", etag.strip('"'), int(time.time()) - 1)

    assert stack.run_trigger() == {"batchItemFailures": []}

    record = stack.table.get_item(Key={"id": manifest_record_id("inbox/r.json")})["Item"]
    assert record["state"] == "started" and len(record["entries"]) == 2
    assert record["entries"][0]["job_id"] == first
    assert len(stack.jobs()) == 2 and len(fake_aifaceswap.requests_to(FACESWAP)) == 2
    stack.deliver_callbacks(2)
    stack.run_notify()
    result = stack.read_json("outbox/r.result.json")
    assert result["jobs"][0]["id"] == first and result["succeeded"] == 2


def test_a_batch_another_trigger_is_starting_is_retried_later(stack, fake_aifaceswap):
    face = stack.put_face("inbox/p/a.jpg")
    etag = stack.put("inbox/r.json", {"jobs": [{"source_image": face, "face_image": face}] * 2})["ETag"]
    _seed_half_started(stack, "inbox/r.json", etag.strip('"'), int(time.time()) + LEASE_SECONDS)
    messages = stack.receive("InboxQueue")
    manifest_id = next(m["MessageId"] for m in messages if "r.json" in m["Body"])

    answer = stack.invoke(stack.trigger_module, "InboxQueue", messages)

    assert answer == {"batchItemFailures": [{"itemIdentifier": manifest_id}]}
    assert len(stack.jobs()) == 1 and len(fake_aifaceswap.requests_to(FACESWAP)) == 1
    assert stack.depth("InboxQueue") == 1  # back to the queue for a later try


def test_job_refused_by_the_provider_at_submit_fails_and_the_result_is_written(stack, fake_aifaceswap):
    face = stack.put_face("inbox/p/a.jpg")
    fake_aifaceswap.inject("invalid_input", message="unsupported image")
    stack.put("inbox/refused.json", {"source_image": face, "face_image": face})

    assert stack.run_trigger() == {"batchItemFailures": []}

    (job,) = stack.jobs()
    assert job["status"] == "failed"
    result = stack.read_json("outbox/refused.result.json")
    assert result["jobs"][0]["status"] == "failed"
    assert result["jobs"][0]["error"]["code"] == "provider_invalid_input"
    # the job's own notification finds the result already written
    assert stack.run_notify() == {"batchItemFailures": []}
    assert stack.read_json("outbox/refused.result.json") == result


def test_without_a_public_url_the_event_is_retried_and_nothing_starts(stack, monkeypatch, fake_aifaceswap):
    monkeypatch.delenv("SWAPGATE_PUBLIC_URL")
    face = stack.put_face("inbox/p/a.jpg")
    stack.put("inbox/n.json", {"source_image": face, "face_image": face})
    messages = stack.receive("InboxQueue")

    answer = stack.invoke(stack.trigger_module, "InboxQueue", messages)

    manifest_id = next(m["MessageId"] for m in messages if "n.json" in m["Body"])
    assert answer == {"batchItemFailures": [{"itemIdentifier": manifest_id}]}
    assert stack.jobs() == [] and fake_aifaceswap.requests == []


def test_manifest_images_may_be_urls_and_upload_references(stack, fake_aifaceswap):
    stack.put_face("uploads/0123abcd", "grace_hopper.jpg")
    url = f"{fake_aifaceswap.base_url}/cdn/source.png"
    stack.put("inbox/mixed.json", {"source_image": url, "face_image": "upload://0123abcd"})

    assert stack.run_trigger() == {"batchItemFailures": []}

    (sent,) = fake_aifaceswap.requests_to(FACESWAP)
    assert sent.json["source_image"] == url
    assert "uploads/0123abcd" in sent.json["face_image"]


def test_oversized_manifest_is_an_error(stack):
    stack.put("inbox/huge.json", {"source_image": "x" * (300 * 1024), "face_image": "y"})
    assert stack.run_trigger() == {"batchItemFailures": []}
    (error,) = stack.read_json("outbox/huge.error.json")["errors"]
    assert "larger than" in error["message"]
    assert stack.jobs() == []


def test_manifest_job_webhook_gets_a_signed_delivery(stack, webhook_receiver):
    face = stack.put_face("inbox/p/a.jpg")
    stack.put(
        "inbox/hooked.json", {"source_image": face, "face_image": face, "webhook": webhook_receiver.url}
    )
    stack.run_trigger()
    (job,) = stack.jobs()
    assert job["webhook"] == webhook_receiver.url
    stack.deliver_callbacks(1)

    assert stack.run_notify() == {"batchItemFailures": []}

    (hook,) = webhook_receiver.wait_for(1)
    payload = verify_webhook(hook.body, hook.headers, WEBHOOK_SECRET)
    assert payload["id"] == job["id"] and payload["status"] == "succeeded"
    assert stack.keys("outbox/") == ["outbox/hooked.result.json"]
