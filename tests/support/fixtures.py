"""The tests' pytest fixtures (registered in tests/conftest.py): the provider fakes, a webhook receiver,
the deployment of template.yaml in moto, and the fixture photos (all, or one JPEG and one PNG)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi, WebhookReceiver

from support.deployment import FACES, PROVIDER_KEY, Deployment, deployed

FAKE_DELAY = 0.05


@pytest.fixture
def fake_aifaceswap() -> Iterator[FakeAifaceswap]:
    """A started FakeAifaceswap (key ``test-key``, jobs finish after 0.05 s), stopped after the test."""
    with FakeAifaceswap(api_key=PROVIDER_KEY, delay=FAKE_DELAY) as fake:
        yield fake


@pytest.fixture
def fake_ttapi() -> Iterator[FakeTtapi]:
    """A started FakeTtapi (key ``test-key``, jobs finish after 0.05 s), stopped after the test."""
    with FakeTtapi(api_key=PROVIDER_KEY, delay=FAKE_DELAY) as fake:
        yield fake


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A started loopback webhook receiver (``.url``, ``.received``, ``.wait_for(n)``)."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def deployment(monkeypatch, fake_aifaceswap, fake_ttapi) -> Iterator[Deployment]:
    """The deployment as the API sees it (no notify queue: ended jobs notify nobody)."""
    with deployed(
        monkeypatch, fake_aifaceswap, fake_ttapi, notify_queue=False, functions=("api", "callback", "poll")
    ) as running:
        yield running


@pytest.fixture
def stack(monkeypatch, fake_aifaceswap, fake_ttapi) -> Iterator[Deployment]:
    """The deployment with the inbox and notify queues wired: client webhooks go through the notify
    queue (``run_notify``), manifests through the inbox queue (``run_trigger``)."""
    with deployed(
        monkeypatch,
        fake_aifaceswap,
        fake_ttapi,
        notify_queue=True,
        functions=("trigger", "notify", "callback"),
    ) as running:
        yield running


@pytest.fixture
def face_bytes() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in FACES.iterdir() if path.suffix in (".png", ".jpg")}


@pytest.fixture(scope="session")
def jpeg_bytes() -> bytes:
    return (FACES / "grace_hopper.jpg").read_bytes()


@pytest.fixture(scope="session")
def png_bytes() -> bytes:
    return (FACES / "astronaut.png").read_bytes()
