"""Pytest fixtures for the provider fakes. Register with
``pytest_plugins = ["swapgate_dev.fakes.pytest_plugin"]`` in a conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi, WebhookReceiver

FAKE_API_KEY = "test-key"
FAKE_DELAY = 0.05


@pytest.fixture
def fake_aifaceswap() -> Iterator[FakeAifaceswap]:
    """A started FakeAifaceswap (key ``test-key``, jobs finish after 0.05 s), stopped after the test."""
    with FakeAifaceswap(api_key=FAKE_API_KEY, delay=FAKE_DELAY) as fake:
        yield fake


@pytest.fixture
def fake_ttapi() -> Iterator[FakeTtapi]:
    """A started FakeTtapi (key ``test-key``, jobs finish after 0.05 s), stopped after the test."""
    with FakeTtapi(api_key=FAKE_API_KEY, delay=FAKE_DELAY) as fake:
        yield fake


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A started loopback webhook receiver (``.url``, ``.received``, ``.wait_for(n)``)."""
    with WebhookReceiver() as receiver:
        yield receiver
