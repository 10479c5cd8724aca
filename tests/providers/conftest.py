"""Helpers for the adapter tests. The fakes and their fixtures (``fake_aifaceswap``, ``fake_ttapi``,
``webhook_receiver``) come from tests/support/fixtures.py (registered in tests/conftest.py)."""

from __future__ import annotations

import socket

import pytest
from support import PROVIDER_KEY as KEY
from swapgate.providers.aifaceswap import AifaceswapProvider
from swapgate.providers.ttapi import TtapiProvider

JITTER = 0.5  # fixed jitter: the n-th wait is backoff_n * 0.75


class Sleeper:
    """An injectable ``sleep`` that records the waits instead of sleeping; ``then`` runs on each."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.then = None

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.then is not None:
            self.then(len(self.waits))


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper()


@pytest.fixture
def aifaceswap(fake_aifaceswap, sleeper):
    provider = AifaceswapProvider(KEY, fake_aifaceswap.base_url, sleep=sleeper, jitter=lambda: JITTER)
    yield provider
    provider.http.close()


@pytest.fixture
def ttapi(fake_ttapi, sleeper):
    provider = TtapiProvider(KEY, fake_ttapi.base_url, sleep=sleeper, jitter=lambda: JITTER)
    yield provider
    provider.http.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released: connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
