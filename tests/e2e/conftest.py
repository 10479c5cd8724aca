"""Fixtures of the end-to-end tests: the provider fakes, the stacks (subprocesses), a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_stack import FACES, PROVIDER_KEY, fakes_env, start_stack
from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi, WebhookReceiver
from swapgate_dev.local.running import RunningStack, stop_stack


@pytest.fixture(scope="session")
def fake_ttapi() -> Iterator[FakeTtapi]:
    with FakeTtapi(api_key=PROVIDER_KEY, delay=0.5) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_aifaceswap() -> Iterator[FakeAifaceswap]:
    with FakeAifaceswap(api_key=PROVIDER_KEY, delay=0.5) as fake:
        yield fake


@pytest.fixture(scope="session")
def stack(fake_ttapi, fake_aifaceswap) -> Iterator[RunningStack]:
    """One stack for the session, TTAPI (the fake) by default: compatibility routes run on the
    deployment's default provider. Tests of the local engine name ``provider: local``."""
    running = start_stack(fakes_env(fake_ttapi, fake_aifaceswap, "ttapi"))
    try:
        yield running
    finally:
        code = stop_stack(running)
    assert code == 0, running.tail()


@pytest.fixture(scope="module")
def aifaceswap_stack(fake_ttapi, fake_aifaceswap) -> Iterator[RunningStack]:
    """A second stack with aifaceswap (the fake) by default, for its compatibility routes."""
    running = start_stack(fakes_env(fake_ttapi, fake_aifaceswap, "aifaceswap"))
    try:
        yield running
    finally:
        stop_stack(running)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="session")
def faces() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in FACES.iterdir() if path.suffix in (".png", ".jpg")}
