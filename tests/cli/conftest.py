"""Fixtures of the CLI tests: the fake API on loopback, a virtual clock, ``run(*argv)``."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest
from cli_fakeapi import API_KEY, FakeApi, FakeClock, handler_for


@pytest.fixture
def api():
    fake = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def clock(monkeypatch, api):
    from swapgate_cli import client, progress

    fake = FakeClock()
    monkeypatch.setattr(progress, "monotonic", fake.monotonic)
    monkeypatch.setattr(progress, "sleep", fake.sleep)  # between polls
    monkeypatch.setattr(client, "sleep", fake.sleep)  # before retrying a 429/503
    api.clock = fake
    return fake


@pytest.fixture
def run(api, monkeypatch, tmp_path):
    """``run(*argv)`` -> exit code of ``main`` against the fake API, from a scratch directory."""
    from swapgate_cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWAPGATE_URL", raising=False)
    monkeypatch.delenv("SWAPGATE_API_KEY", raising=False)

    def run(*argv: str, url: str | None = None, key: str | None = API_KEY) -> int:
        options = ["--url", url or api.base_url] + (["--api-key", key] if key else [])
        return main([*options, *argv])

    return run
