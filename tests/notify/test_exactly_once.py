"""A job's terminal transition and its notification are one fact: the jobs table's stream hands the
transition to the job-events function, which queues the notification; nothing the writer does after
the write matters, a failed send is retried from the stream, and a message that comes twice never
sends a second webhook."""

from __future__ import annotations

import json
import time

from botocore.exceptions import ClientError
from support import lambda_context
from swapgate.delivery import message_id
from swapgate.jobs import JobStore
from swapgate.signing import verify_webhook
from test_notify import SECRET, finish, submit


def webhook_ids(receiver) -> list[str]:
    return [hook.headers["webhook-id"] for hook in receiver.received]


def test_the_terminal_write_queues_nothing_the_stream_does(stack, fake_aifaceswap, webhook_receiver):
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    ((status, _),) = stack.deliver_callbacks(1)
    assert status == 200
    assert stack.depth("NotifyQueue") == 0  # the callback only wrote the transition

    stack.run_events()

    (message,) = stack.receive("NotifyQueue")
    assert json.loads(message["Body"]) == {"job_id": job.id, "status": "succeeded"}


def test_a_failed_send_is_retried_from_the_stream_and_notifies_once(stack, fake_aifaceswap, webhook_receiver):
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    stack.deliver_callbacks(1)
    sqs = stack.job_events_module.job_events().sqs
    failures: list[str] = []

    def fail_once(**_):
        if not failures:
            failures.append("SendMessage")
            raise ClientError({"Error": {"Code": "InternalError", "Message": "try again"}}, "SendMessage")

    sqs.meta.events.register("before-call.sqs.SendMessage", fail_once)

    (first,) = stack.run_events()
    assert [item["itemIdentifier"] for item in first["batchItemFailures"]] != []
    assert stack.depth("NotifyQueue") == 0

    assert stack.run_notify() == {"batchItemFailures": []}  # the stream offers the record again

    assert failures == ["SendMessage"]
    assert webhook_ids(webhook_receiver) == [f"msg_{job.id}_succeeded"]
    assert stack.keys("results/") == [f"results/{job.id}.png"] and stack.keys("staging/") == []


def test_a_message_that_comes_twice_sends_one_webhook(stack, fake_aifaceswap, webhook_receiver):
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    finish(stack, job.id)
    stack.send("NotifyQueue", json.dumps({"job_id": job.id, "status": "succeeded"}))  # a duplicate

    assert stack.depth("NotifyQueue") == 2

    assert stack.run_notify() == {"batchItemFailures": []}

    assert webhook_ids(webhook_receiver) == [f"msg_{job.id}_succeeded"]
    assert stack.depth("NotifyQueue") == 0
    assert stack.job(job.id)["notified"] == f"msg_{job.id}_succeeded"


def test_a_stream_record_handled_twice_sends_one_webhook(stack, fake_aifaceswap, webhook_receiver):
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    stack.deliver_callbacks(1)
    records = stack.job_stream.read()
    event = {"Records": records}
    for _ in range(2):  # Lambda retried the batch after the records had been handled
        assert stack.job_events_module.handler(event, lambda_context()) == {"batchItemFailures": []}

    assert stack.depth("NotifyQueue") == 2
    assert stack.run_notify() == {"batchItemFailures": []}
    assert webhook_ids(webhook_receiver) == [f"msg_{job.id}_succeeded"]
    payload = verify_webhook(webhook_receiver.received[0].body, webhook_receiver.received[0].headers, SECRET)
    assert payload["status"] == "succeeded"


def test_a_delivery_in_progress_elsewhere_is_waited_for(stack, fake_aifaceswap, webhook_receiver):
    """Two copies of a message handled at the same time: the second finds the first's claim and is
    retried later; by then the first recorded its delivery, so the retry sends nothing."""
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    finish(stack, job.id)
    store = JobStore.from_env()
    ended = store.get(job.id)
    assert (
        store.claim_notification(job.id, message_id(ended), "other", now=time.time(), lease=60) == "claimed"
    )

    (message,) = stack.receive("NotifyQueue")
    answer = stack.invoke(stack.notify_module, "NotifyQueue", [message])
    assert answer == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert webhook_receiver.received == []

    store.record_notified(job.id, message_id(ended))  # the other delivery got its 2xx
    stack.make_visible("NotifyQueue", message)
    assert stack.run_notify() == {"batchItemFailures": []}
    assert webhook_receiver.received == [] and stack.depth("NotifyQueue") == 0


def test_a_failed_delivery_is_sent_again_with_the_same_id(stack, fake_aifaceswap, webhook_receiver):
    webhook_receiver.status = 500
    job = submit(stack, fake_aifaceswap, webhook_receiver.url)
    finish(stack, job.id)
    (message,) = stack.receive("NotifyQueue")
    assert stack.invoke(stack.notify_module, "NotifyQueue", [message])["batchItemFailures"]
    assert "notify_claim" not in stack.job(job.id)  # released: the retry need not wait for the lease

    webhook_receiver.status = 204
    stack.make_visible("NotifyQueue", message)
    assert stack.run_notify() == {"batchItemFailures": []}
    assert webhook_ids(webhook_receiver) == [f"msg_{job.id}_succeeded"] * 2
    assert stack.job(job.id)["notified"] == f"msg_{job.id}_succeeded"
