"""The job store's writes that make failures safe, against moto: no field erased by ordering, create-if-
absent, and the webhook delivery record (claim with a lease, notified, release); the inbox's job ids;
the invocation's time budget."""

from __future__ import annotations

import time

import pytest
import requests
from swapgate import budget, keys
from swapgate.errors import JobNotFound, ProviderBusy
from swapgate.jobs import (
    ALREADY_SENT,
    CLAIM_HELD,
    CLAIMED,
    Job,
    JobStatus,
    JobStore,
    transient,
    with_write_retries,
)


def new_job(store: JobStore) -> Job:
    return store.create(Job(id=keys.new_job_id(), provider="aifaceswap", operation="swap"))


# --- no field is erased by ordering ------------------------------------------------------------


def test_a_change_without_a_value_leaves_the_field_as_it_is(store):
    """A webhook that recorded the provider's cost first is not undone by a later writer that knows none."""
    job = new_job(store)
    store.transition(job.id, JobStatus.RUNNING, provider_job_id="p-1", points=3)

    store.update(job.id, provider_job_id="p-1", points=None)
    ended = store.transition(job.id, JobStatus.FAILED, error_code="x", error_message="y", points=None)

    assert ended.points == 3 and ended.provider_job_id == "p-1"
    assert store.table.get_item(Key={"id": job.id})["Item"]["points"] == 3


def test_create_if_absent_returns_the_job_that_exists(store):
    first = new_job(store)
    again = Job(id=first.id, provider="ttapi", operation="multi_swap")

    stored, created = store.create_if_absent(again)

    assert created is False and stored.provider == "aifaceswap" and stored.created_at == first.created_at
    fresh, made = store.create_if_absent(Job(id=keys.new_job_id(), provider="ttapi", operation="swap"))
    assert made is True and store.get(fresh.id).provider == "ttapi"
    assert store.find("job_missing") is None


def test_writes_are_retried_only_on_throttling_and_server_errors():
    from botocore.exceptions import ClientError

    def error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": code}}, "UpdateItem")

    assert transient(error("ProvisionedThroughputExceededException"))
    assert transient(error("InternalServerError"))
    assert not transient(error("ConditionalCheckFailedException"))
    assert not transient(ValueError("bug"))
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise error("ThrottlingException")
        return "written"

    assert with_write_retries(flaky) == "written" and len(calls) == 3


# --- the webhook's delivery record ---------------------------------------------------------------


def test_a_delivery_is_claimed_once_then_recorded(store):
    job = new_job(store)
    updated_at = store.get(job.id).updated_at
    msg = f"msg_{job.id}_succeeded"

    assert store.claim_notification(job.id, msg, "a", now=1000, lease=60) == CLAIMED
    # a duplicate message while the first delivery runs: held, tried again later
    assert store.claim_notification(job.id, msg, "b", now=1030, lease=60) == CLAIM_HELD
    store.record_notified(job.id, msg)
    # once delivered, every later message for the transition is dropped, whatever the lease
    assert store.claim_notification(job.id, msg, "c", now=1031, lease=60) == ALREADY_SENT
    assert store.claim_notification(job.id, msg, "d", now=99999, lease=60) == ALREADY_SENT
    item = store.table.get_item(Key={"id": job.id})["Item"]
    assert item["notified"] == msg and "notify_claim" not in item
    assert item["updated_at"] == updated_at  # the job's own fields (and its webhook body) are unchanged


def test_a_failed_delivery_releases_its_claim_and_a_dead_one_lapses(store):
    job = new_job(store)
    msg = f"msg_{job.id}_failed"
    assert store.claim_notification(job.id, msg, "a", now=1000, lease=60) == CLAIMED
    store.release_notification(job.id, "a")
    assert store.claim_notification(job.id, msg, "b", now=1001, lease=60) == CLAIMED
    store.release_notification(job.id, "a")  # not the holder: nothing happens
    assert store.claim_notification(job.id, msg, "c", now=1002, lease=60) == CLAIM_HELD
    # "b" died without releasing: its lease runs out
    assert store.claim_notification(job.id, msg, "c", now=1062, lease=60) == CLAIMED
    with pytest.raises(JobNotFound):
        store.claim_notification("job_missing", msg, "x", now=0, lease=60)


# --- the inbox's job ids -------------------------------------------------------------------------


def test_an_inbox_job_id_is_the_same_for_the_same_manifest_version_and_index():
    first = keys.inbox_job_id("inbox/a.json", "s:00AB", 0)
    assert first == keys.inbox_job_id("inbox/a.json", "s:00AB", 0)
    assert first.startswith(keys.JOB_PREFIX) and len(first) == len(keys.new_job_id())
    others = {
        keys.inbox_job_id("inbox/a.json", "s:00AB", 1),
        keys.inbox_job_id("inbox/a.json", "s:00AC", 0),
        keys.inbox_job_id("inbox/b.json", "s:00AB", 0),
    }
    assert first not in others and len(others) == 3


# --- the time budget -----------------------------------------------------------------------------


def test_provider_timeouts_are_cut_to_the_time_left():
    assert budget.timeouts(3.05, 30) == (3.05, 30)  # outside a budget nothing is cut
    with budget.until(5):
        connect, read = budget.timeouts(3.05, 30)
        assert connect == 3.05 and 4.5 < read <= 5
        with budget.until(2):
            assert budget.timeouts(3.05, 30)[0] <= 2
        assert budget.remaining() > 4
    assert budget.remaining() is None
    with budget.until(budget.MIN_CALL_SECONDS / 2), pytest.raises(ProviderBusy, match="no time left"):
        budget.timeouts(3.05, 30)


def test_the_time_left_is_the_invocation_s_and_no_more_than_its_caller_waits():
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 28_000

    assert budget.seconds_left(Context()) == 28
    received = int((time.time() - 20) * 1000)  # API Gateway got the request 20 s ago
    assert 8.5 < budget.seconds_left(Context(), received_ms=received, limit=29) <= 9
    assert budget.seconds_left(object()) is None


def test_a_submit_read_timeout_is_an_unknown_answer_but_a_connect_failure_is_not(monkeypatch):
    """The provider may have accepted a submit that timed out reading: ProviderAnswerUnknown (still a
    ProviderBusy for callers that do not care). A connection that never opened cannot have arrived."""
    from swapgate.errors import ProviderAnswerUnknown
    from swapgate.providers.http import ProviderHttp

    client = ProviderHttp("https://provider.test", {}, provider="p", sleep=lambda s: None, max_attempts=1)
    seen = []

    def timing_out(method, url, **kwargs):
        seen.append(kwargs["timeout"])
        raise requests.exceptions.ReadTimeout("read timed out")

    monkeypatch.setattr(client._session, "request", timing_out)
    with budget.until(4), pytest.raises(ProviderAnswerUnknown, match="read timeout") as unknown:
        client.submit("/swap", json={})
    assert isinstance(unknown.value, ProviderBusy) and unknown.value.code == "provider_busy"
    assert seen[0][1] <= 4  # the read timeout was cut to the budget

    def refused(method, url, **kwargs):
        from urllib3.exceptions import MaxRetryError, NewConnectionError

        raise requests.exceptions.ConnectionError(
            MaxRetryError(None, url, NewConnectionError(None, "refused"))
        )

    monkeypatch.setattr(client._session, "request", refused)
    with pytest.raises(ProviderBusy) as busy:
        client.submit("/swap", json={})
    assert not isinstance(busy.value, ProviderAnswerUnknown)
