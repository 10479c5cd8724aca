"""Many clients at once against the local stack (issue 11): every function invocation runs in an
execution environment of its own, so concurrent requests, provider webhooks and status reads never
see each other's event, state or log keys.

32 clients submit at the same moment, each with its own input image and its own webhook URL, then
read their job's status until it ends, while the provider's webhooks come in. The provider is the
aifaceswap fake, which has no fetch endpoint: a lost webhook would leave a job to time out.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from e2e_stack import PROVIDER_KEY, fakes_env, start_stack
from standardwebhooks.webhooks import Webhook
from swapgate import provenance
from swapgate_dev.fakes import FakeAifaceswap, WebhookReceiver
from swapgate_dev.fakes.media import make_png
from swapgate_dev.local.running import stop_stack

pytestmark = pytest.mark.e2e

CLIENTS = 32


def result_for(source: bytes) -> bytes:
    """What Swapgate stores for a job whose source image is ``source``: the fake's answer, marked."""
    return provenance.mark(make_png("result of " + hashlib.sha256(source).hexdigest()))


class SourceBoundAifaceswap(FakeAifaceswap):
    """The aifaceswap fake with a result made from the job's own source image (fetched from the URL
    Swapgate hands over), so a result can be traced back to the request it belongs to."""

    def new_job(self, req, job_id, kind, inputs, webhook, cost):
        source = inputs["source_image"]
        data = source.data if hasattr(source, "data") else requests.get(source, timeout=30).content
        job = super().new_job(req, job_id, kind, inputs, webhook, cost)
        job.extra["source_sha256"] = hashlib.sha256(data).hexdigest()
        return job

    def result_image(self, job_id: str) -> bytes:
        return make_png("result of " + self.jobs[job_id].extra["source_sha256"])


@pytest.fixture(scope="module")
def provider():
    # Webhooks wait their turn when 32 arrive at once on a small machine: the fake waits for answers.
    with SourceBoundAifaceswap(api_key=PROVIDER_KEY, delay=0.5, webhook_timeout=60) as fake:
        yield fake


@pytest.fixture(scope="module")
def busy_stack(provider, fake_ttapi):
    env = fakes_env(fake_ttapi, provider, "aifaceswap")
    env["SWAPGATE_JOB_TIMEOUT_SECONDS"] = "60"  # only a lost webhook makes a job time out
    # As many environments as clients, as Lambda gives an unreserved function: with the laptop default
    # (10) the 32 submits queue in the emulator while API Gateway's 29 s clock runs, and on a busy
    # machine the last ones find no time left to call the provider (a 503, as on AWS).
    env["SWAPGATE_LOCAL_CONCURRENCY"] = "32"
    stack = start_stack(env)
    try:
        yield stack
    finally:
        assert stop_stack(stack) == 0, stack.tail()


def test_concurrent_clients_each_get_their_own_job_result_and_webhook(busy_stack, provider, faces):
    stack = busy_stack
    face = faces["grace_hopper.jpg"]
    images = [make_png(f"client {n}") for n in range(CLIENTS)]
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> tuple[str, dict]:
        start.wait()
        response = stack.post(
            "/v1/swaps",
            files={
                "source_image": (f"c{n}.png", images[n], "image/png"),
                "face_image": ("f.jpg", face, "image/jpeg"),
            },
            data={"provider": "aifaceswap", "webhook": f"{receiver.base_url}/client/{n}"},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        deadline = time.monotonic() + 90
        while True:  # status reads interleave with the provider's webhooks
            job = stack.get(f"/v1/swaps/{job_id}")
            assert job.status_code == 200, job.text
            if job.json()["status"] in ("succeeded", "failed", "timed_out", "canceled"):
                return job_id, job.json()
            assert time.monotonic() < deadline, f"job {job_id} did not end\n{stack.tail()}"
            time.sleep(0.5)

    with WebhookReceiver() as receiver:
        started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(client, range(CLIENTS)))
        elapsed = time.monotonic() - started
        deliveries = receiver.wait_for(CLIENTS, timeout=60)
        time.sleep(2)  # a duplicate would come now
        deliveries = receiver.received

    assert [job["status"] for _, job in results] == ["succeeded"] * CLIENTS, results
    for n, (_, job) in enumerate(results):
        result = requests.get(job["result_url"], timeout=30)
        assert result.status_code == 200
        assert result.content == result_for(images[n]), f"client {n} got another request's result"

    assert Counter(delivery.path for delivery in deliveries) == {f"/client/{n}": 1 for n in range(CLIENTS)}
    for delivery in deliveries:
        n = int(delivery.path.rsplit("/", 1)[1])
        headers = {name.lower(): value for name, value in delivery.headers.items()}
        payload = Webhook(stack.webhook_secret).verify(delivery.body, headers)
        assert payload["id"] == results[n][0] and payload["status"] == "succeeded"

    job_ids = {job_id for job_id, _ in results}
    ours = [d for d in provider.webhook_deliveries if any(job_id in d.url for job_id in job_ids)]
    assert len(ours) == CLIENTS and {d.status for d in ours} == {200}  # every provider webhook answered 200

    # Log lines of concurrent invocations carry their own keys: an API request (submit, status read,
    # provider webhook) is about one job and has one correlation id. (A batch of the SQS-fed
    # functions is about several jobs.)
    seen: dict[str, set] = {}
    for line in stack.output:
        if line.startswith("{") and '"function_request_id"' in line:
            record = json.loads(line)
            if not record["function_name"].endswith(("ApiFunction", "CallbackFunction")):
                continue
            keys = seen.setdefault(record["function_request_id"], set())
            keys.add(("job_id", record.get("job_id")))
            keys.add(("correlation_id", record.get("correlation_id")))
    assert seen, "no function log lines"
    for request_id, keys in seen.items():
        for name in ("job_id", "correlation_id"):
            values = {value for key, value in keys if key == name and value is not None}
            assert len(values) <= 1, f"request {request_id} logged {name}s {values}"
    print(f"{CLIENTS} concurrent jobs done in {elapsed:.1f} s")
