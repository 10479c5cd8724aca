"""DELETE /v1/swaps/{id}: the owner removes everything Swapgate stored for a job. Only a tombstone is
left (status kept, ``data_removed``), and no late webhook, poll or stream event brings data back."""

from __future__ import annotations

from support.deployment import API_KEY, BUCKET, OTHER_API_KEY
from swapgate.access import key_digest
from swapgate.jobs import Job, JobStatus, JobStore

ROUTE = "/v1/swaps/{id}"


def _delete(deployment, job_id: str, key: str = API_KEY):
    return deployment.api("DELETE", f"/v1/swaps/{job_id}", resource=ROUTE, key=key)


def _get(deployment, job_id: str):
    return deployment.api("GET", f"/v1/swaps/{job_id}", resource=ROUTE)


def _stored(deployment) -> list[str]:
    """Every object (and version) left under the prefixes a purge clears."""
    found = []
    for prefix in ("uploads/", "staging/", "results/", "engine/"):
        listing = deployment.s3.list_object_versions(Bucket=BUCKET, Prefix=prefix)
        found += [v["Key"] for v in listing.get("Versions", []) + listing.get("DeleteMarkers", [])]
    return found


def _assert_tombstone(deployment, job_id: str, status: str) -> None:
    item = deployment.job(job_id)
    assert item["data_removed"] is True and item["status"] == status and item["removed_at"]
    for personal in (
        "webhook",
        "result_key",
        "staged_key",
        "upload_keys",
        "provider_job_id",
        "error_message",
    ):
        assert personal not in item, personal
    view = _get(deployment, job_id)
    assert view.status == 200
    assert view.body["data_removed"] is True and view.body["status"] == status
    assert view.body["result_url"] is None and view.body["expires_at"]


def _multipart_swap(deployment, face_bytes, webhook: str | None = None) -> str:
    files = {
        "source_image": ("source.png", face_bytes["astronaut.png"], "image/png"),
        "face_image": ("face.jpg", face_bytes["grace_hopper.jpg"], "image/jpeg"),
    }
    data = {"provider": "aifaceswap"} | ({"webhook": webhook} if webhook else {})
    answer = deployment.api("POST", "/v1/swaps", files=files, data=data)
    assert answer.status == 202, answer.body
    return answer.body["id"]


def test_purge_of_a_succeeded_job_removes_inputs_result_and_personal_fields(
    deployment, fake_aifaceswap, face_bytes, webhook_receiver
):
    job_id = _multipart_swap(deployment, face_bytes, webhook=webhook_receiver.url)
    assert len(deployment.job(job_id)["upload_keys"]) == 2
    (callback,) = deployment.deliver_callbacks(1)
    assert callback.body["status"] == "succeeded"
    assert deployment.keys("results/") and deployment.keys("uploads/")

    answer = _delete(deployment, job_id)

    assert answer.status == 200, answer.body
    assert answer.body["data_removed"] is True and answer.body["result_url"] is None
    assert _stored(deployment) == []
    _assert_tombstone(deployment, job_id, "succeeded")
    # purging again is harmless
    assert _delete(deployment, job_id).status == 200


def test_purge_of_a_running_job_cancels_it_and_a_late_webhook_brings_nothing_back(
    deployment, fake_aifaceswap, face_bytes
):
    job_id = _multipart_swap(deployment, face_bytes)

    answer = _delete(deployment, job_id)
    assert answer.status == 200 and answer.body["status"] == "canceled"

    # the provider's webhook arrives after the purge: no result is staged or published
    (callback,) = deployment.deliver_callbacks(1)
    assert callback.status == 200
    deployment.run_events()
    assert _stored(deployment) == []
    _assert_tombstone(deployment, job_id, "canceled")


def test_purge_racing_the_succeeded_transition_leaves_no_result(deployment, fake_ttapi, monkeypatch):
    """The webhook read the job before the purge, the purge lands before its transition: the
    transition is refused (``attribute_not_exists(data_removed)``) and the staged copy dropped."""
    source = f"{fake_ttapi.base_url}/cdn/a.png"
    answer = deployment.api(
        "POST", "/v1/swaps", json_body={"source_image": source, "face_image": source, "provider": "ttapi"}
    )
    job_id = answer.body["id"]
    store = JobStore(deployment.table)
    transition = JobStore.transition

    def purge_first(self, job_id_, target, **changes):
        if target is JobStatus.SUCCEEDED:
            assert _delete(deployment, job_id).status == 200
        return transition(self, job_id_, target, **changes)

    monkeypatch.setattr(JobStore, "transition", purge_first)
    (callback,) = deployment.deliver_callbacks(1)
    assert callback.status == 200
    monkeypatch.setattr(JobStore, "transition", transition)
    deployment.run_events()
    assert _stored(deployment) == []
    assert store.get(job_id).data_removed
    _assert_tombstone(deployment, job_id, "canceled")


def test_purge_of_queued_and_failed_jobs(deployment):
    store = JobStore(deployment.table)
    owner = key_digest(API_KEY)
    queued = store.create(Job(id="job_" + "a" * 32, provider="ttapi", operation="swap", owner=owner))
    failed = store.create(
        Job(
            id="job_" + "b" * 32,
            provider="ttapi",
            operation="swap",
            owner=owner,
            status=JobStatus.FAILED,
            error_code="provider_job_failed",
            error_message="the provider said no",
            webhook="https://hooks.example.com/x",
        )
    )
    assert _delete(deployment, queued.id).body["status"] == "canceled"
    _assert_tombstone(deployment, queued.id, "canceled")
    assert _delete(deployment, failed.id).body["status"] == "failed"
    _assert_tombstone(deployment, failed.id, "failed")
    assert deployment.job(failed.id)["error_code"] == "provider_job_failed"  # a code, not personal data


def test_only_the_owner_can_purge(deployment, fake_aifaceswap, face_bytes):
    job_id = _multipart_swap(deployment, face_bytes)
    answer = _delete(deployment, job_id, key=OTHER_API_KEY)
    assert answer.status == 404 and answer.body["error"]["code"] == "not_found"
    assert "data_removed" not in deployment.job(job_id) and len(deployment.keys("uploads/")) == 2
    assert _delete(deployment, "job_" + "0" * 32).status == 404


def test_purge_removes_every_version_in_a_versioned_bucket(deployment, fake_aifaceswap, face_bytes):
    deployment.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    job_id = _multipart_swap(deployment, face_bytes)
    deployment.deliver_callbacks(1)
    (result,) = deployment.keys("results/")
    deployment.s3.put_object(Bucket=BUCKET, Key=result, Body=b"an older version")  # two versions now

    assert _delete(deployment, job_id).status == 200
    assert _stored(deployment) == []


def test_purge_of_a_builtin_job_removes_its_engine_objects(deployment):
    store = JobStore(deployment.table)
    job = store.create(
        Job(
            id="job_" + "c" * 32,
            provider="builtin",
            operation="swap",
            owner=key_digest(API_KEY),
            status=JobStatus.RUNNING,
            provider_job_id="eng-123",
        )
    )
    for key in (
        "engine/eng-123.json",
        "engine/eng-123/source.png",
        "engine/eng-123.png",
        "engine/other.json",
    ):
        deployment.s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")

    assert _delete(deployment, job.id).status == 200
    assert deployment.keys("engine/") == ["engine/other.json"]


def test_purge_of_a_job_made_on_a_compatibility_route(deployment, fake_ttapi, webhook_receiver):
    data = {
        "targetImage": f"{fake_ttapi.base_url}/a.png",
        "swapImage": f"{fake_ttapi.base_url}/b.png",
        "hookUrl": webhook_receiver.url,
    }
    answer = deployment.api(
        "POST", "/insightFace/v1/swap", key=None, headers={"TT-API-KEY": API_KEY}, json_body=data
    )
    assert answer.status == 200, answer.body
    job_id = answer.body["data"]["jobId"]
    deployment.deliver_callbacks(1)
    assert deployment.keys("results/")

    assert _delete(deployment, job_id).status == 200
    assert _stored(deployment) == []
    _assert_tombstone(deployment, job_id, "succeeded")
    fetched = deployment.api(
        "POST",
        "/insightFace/v1/fetch",
        key=None,
        headers={"TT-API-KEY": API_KEY},
        json_body={"jobId": job_id},
    )
    assert fetched.status == 200 and fetched.body["data"]["cdnImage"] is None
