"""Loopback fakes of the two face-swap providers, for tests and the local stack. Never shipped.

from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi
with FakeTtapi(api_key="test-key", delay=0.2) as fake:
    fake.base_url  # "http://127.0.0.1:PORT"
    fake.inject("rate_limited", times=1, retry_after=2)
"""

from swapgate_dev.fakes.aifaceswap import FakeAifaceswap
from swapgate_dev.fakes.core import (
    JOB_FAULTS,
    REQUEST_FAULTS,
    FakeProvider,
    Injection,
    Job,
    RecordedRequest,
    WebhookDelivery,
)
from swapgate_dev.fakes.media import FilePart, make_png, sniff_image
from swapgate_dev.fakes.receiver import ReceivedWebhook, WebhookReceiver
from swapgate_dev.fakes.ttapi import FakeTtapi

__all__ = [
    "JOB_FAULTS",
    "REQUEST_FAULTS",
    "FakeAifaceswap",
    "FakeProvider",
    "FakeTtapi",
    "FilePart",
    "Injection",
    "Job",
    "ReceivedWebhook",
    "RecordedRequest",
    "WebhookDelivery",
    "WebhookReceiver",
    "make_png",
    "sniff_image",
]
