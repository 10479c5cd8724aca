"""The shared HTTP client over real loopback sockets: retry policy of reads and submits, backoff and
Retry-After, timeouts, connection reuse, and keys kept out of reprs, errors and logs."""

from __future__ import annotations

import logging
import socket
import threading

import pytest
import requests
from support import PROVIDER_KEY as KEY
from swapgate import errors
from swapgate.providers.base import ImageInput
from swapgate.providers.http import ProviderHttp
from swapgate.providers.http_errors import is_connect_failure
from swapgate.providers.ttapi import TtapiProvider
from swapgate_dev.fakes import FakeTtapi
from swapgate_dev.fakes.ttapi import FETCH, SWAP

JITTER = 0.5  # as the conftest's providers use

SOURCE = ImageInput.from_url("https://images.example/source.jpg")
FACE = ImageInput.from_url("https://images.example/face.jpg")

# waits the client asks for with jitter fixed at 0.5: equal jitter over 0.5 s, 1 s, 2 s ... backoffs
FIRST_WAIT, SECOND_WAIT = 0.5 * 0.75, 1.0 * 0.75


def started_job(fake_ttapi, ttapi) -> str:
    job = ttapi.swap(SOURCE, FACE)
    assert job.job_id in fake_ttapi.jobs
    return job.job_id


# --- reads: retried with backoff -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "params", "error"),
    [
        ("server_error", {}, errors.ProviderBusy),
        ("gateway_timeout", {}, errors.ProviderBusy),
        ("queue_full", {}, errors.ProviderBusy),
        ("rate_limited", {"retry_after": 0}, errors.ProviderRateLimited),
        ("malformed_json", {}, errors.ProviderBadResponse),
    ],
)
def test_fetch_retries_retryable_errors_then_succeeds(fake_ttapi, ttapi, sleeper, fault, params, error):
    job_id = started_job(fake_ttapi, ttapi)
    fake_ttapi.inject(fault, times=2, path=FETCH, **params)
    job = ttapi.fetch(job_id)
    assert job.job_id == job_id
    assert len(fake_ttapi.requests_to(FETCH)) == 3
    assert sleeper.waits == [FIRST_WAIT, SECOND_WAIT]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("server_error", errors.ProviderBusy),
        ("queue_full", errors.ProviderBusy),
        ("malformed_json", errors.ProviderBadResponse),
    ],
)
def test_fetch_gives_up_after_max_attempts(fake_ttapi, ttapi, sleeper, fault, error):
    job_id = started_job(fake_ttapi, ttapi)
    fake_ttapi.inject(fault, times=None, path=FETCH)
    with pytest.raises(error):
        ttapi.fetch(job_id)
    assert len(fake_ttapi.requests_to(FETCH)) == ttapi.http.max_attempts == 3
    assert sleeper.waits == [FIRST_WAIT, SECOND_WAIT]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("bad_key", errors.ProviderAuthFailed),
        ("blocked", errors.ProviderAccountBlocked),
        ("quota", errors.ProviderQuotaExhausted),
        ("invalid_input", errors.ProviderInvalidInput),
        ("not_found", errors.ProviderJobNotFound),
    ],
)
def test_fetch_does_not_retry_final_errors(fake_ttapi, ttapi, sleeper, fault, error):
    job_id = started_job(fake_ttapi, ttapi)
    fake_ttapi.inject(fault, times=None, path=FETCH)
    with pytest.raises(error):
        ttapi.fetch(job_id)
    assert len(fake_ttapi.requests_to(FETCH)) == 1
    assert sleeper.waits == []


def test_retry_after_is_honoured(fake_ttapi, ttapi, sleeper):
    job_id = started_job(fake_ttapi, ttapi)
    fake_ttapi.inject("rate_limited", times=1, path=FETCH, retry_after=3)
    ttapi.fetch(job_id)
    assert len(fake_ttapi.requests_to(FETCH)) == 2
    assert sleeper.waits == [3.0]  # at least the provider's Retry-After, not the 0.375 s backoff


def test_retry_after_shorter_than_backoff_keeps_the_backoff(fake_ttapi, ttapi, sleeper):
    job_id = started_job(fake_ttapi, ttapi)
    fake_ttapi.inject("rate_limited", times=1, path=FETCH, retry_after=0)
    ttapi.fetch(job_id)
    assert sleeper.waits == [FIRST_WAIT]


def test_long_retry_after_is_handed_to_the_caller(fake_ttapi, ttapi, sleeper):
    job_id = started_job(fake_ttapi, ttapi)
    fake_ttapi.inject("rate_limited", times=1, path=FETCH, retry_after=120)
    with pytest.raises(errors.ProviderRateLimited) as caught:
        ttapi.fetch(job_id)
    assert caught.value.retry_after == 120.0
    assert caught.value.retryable
    assert len(fake_ttapi.requests_to(FETCH)) == 1
    assert sleeper.waits == []


def test_backoff_grows_exponentially_up_to_the_cap(fake_ttapi, sleeper):
    provider = TtapiProvider(
        KEY, fake_ttapi.base_url, sleep=sleeper, jitter=lambda: JITTER, max_attempts=6, backoff_cap=2.0
    )
    job_id = provider.swap(SOURCE, FACE).job_id
    fake_ttapi.inject("server_error", times=None, path=FETCH)
    with pytest.raises(errors.ProviderBusy):
        provider.fetch(job_id)
    assert len(fake_ttapi.requests_to(FETCH)) == 6
    assert sleeper.waits == [0.375, 0.75, 1.5, 1.5, 1.5]


def test_jitter_spreads_the_waits(fake_ttapi, sleeper):
    values = iter([0.0, 0.999])
    provider = TtapiProvider(KEY, fake_ttapi.base_url, sleep=sleeper, jitter=lambda: next(values))
    job_id = provider.swap(SOURCE, FACE).job_id
    fake_ttapi.inject("server_error", times=None, path=FETCH)
    with pytest.raises(errors.ProviderBusy):
        provider.fetch(job_id)
    assert sleeper.waits[0] == pytest.approx(0.25)  # half the backoff ...
    assert sleeper.waits[1] == pytest.approx(0.9995)  # ... up to the whole backoff


def test_fetch_read_timeout_is_busy_and_retried(fake_ttapi, sleeper):
    provider = TtapiProvider(KEY, fake_ttapi.base_url, sleep=sleeper, jitter=lambda: JITTER, read_timeout=0.2)
    job_id = provider.swap(SOURCE, FACE).job_id
    fake_ttapi.inject("slow", times=1, path=FETCH, seconds=1.0)
    job = provider.fetch(job_id)
    assert job.job_id == job_id
    assert len(fake_ttapi.requests_to(FETCH)) == 2
    assert sleeper.waits == [FIRST_WAIT]


def test_fetch_read_timeout_every_time_ends_busy(fake_ttapi, sleeper):
    provider = TtapiProvider(
        KEY, fake_ttapi.base_url, sleep=sleeper, jitter=lambda: JITTER, read_timeout=0.1, max_attempts=2
    )
    job_id = provider.swap(SOURCE, FACE).job_id
    fake_ttapi.inject("slow", times=None, path=FETCH, seconds=0.5)
    with pytest.raises(errors.ProviderBusy, match="read timeout"):
        provider.fetch(job_id)
    assert len(fake_ttapi.requests_to(FETCH)) == 2


# --- submits: never retried once the request may have arrived -----------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("server_error", errors.ProviderBusy),
        ("gateway_timeout", errors.ProviderBusy),
        ("queue_full", errors.ProviderBusy),
        ("rate_limited", errors.ProviderRateLimited),
        ("malformed_json", errors.ProviderBadResponse),
    ],
)
def test_submit_is_not_retried_after_an_answer(fake_ttapi, ttapi, sleeper, fault, error):
    fake_ttapi.inject(fault, times=None, path=SWAP)
    with pytest.raises(error):
        ttapi.swap(SOURCE, FACE)
    assert len(fake_ttapi.requests_to(SWAP)) == 1
    assert sleeper.waits == []


def test_submit_is_not_retried_after_a_read_timeout(fake_ttapi, sleeper):
    provider = TtapiProvider(KEY, fake_ttapi.base_url, sleep=sleeper, jitter=lambda: JITTER, read_timeout=0.2)
    fake_ttapi.inject("slow", times=None, path=SWAP, seconds=0.6)
    with pytest.raises(errors.ProviderBusy, match="read timeout"):
        provider.swap(SOURCE, FACE)
    assert len(fake_ttapi.requests_to(SWAP)) == 1
    assert sleeper.waits == []


def test_submit_is_retried_when_the_connection_is_refused(closed_port, sleeper):
    fake = FakeTtapi(api_key=KEY, delay=0.05, port=closed_port)
    sleeper.then = lambda n: fake.start() if n == 2 else None  # the provider comes up after 2 refusals
    provider = TtapiProvider(KEY, f"http://127.0.0.1:{closed_port}", sleep=sleeper, jitter=lambda: JITTER)
    try:
        job = provider.swap(SOURCE, FACE)
        assert job.job_id in fake.jobs
        assert len(fake.requests_to(SWAP)) == 1  # the refused attempts never reached it
        assert sleeper.waits == [FIRST_WAIT, SECOND_WAIT]
    finally:
        fake.stop()
        provider.http.close()


def test_submit_gives_up_when_the_connection_stays_refused(closed_port, sleeper):
    provider = TtapiProvider(KEY, f"http://127.0.0.1:{closed_port}", sleep=sleeper, jitter=lambda: JITTER)
    with pytest.raises(errors.ProviderBusy, match="connection failed") as caught:
        provider.swap(SOURCE, FACE)
    assert caught.value.retryable
    assert sleeper.waits == [FIRST_WAIT, SECOND_WAIT]


class HangUpServer:
    """A loopback server that reads each request in full, then closes the connection unanswered:
    the request reached the "provider", the answer never came."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                self.requests.append(head)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def hang_up_server():
    server = HangUpServer()
    yield server
    server.close()


def test_submit_is_not_retried_after_the_connection_drops(hang_up_server, sleeper):
    provider = TtapiProvider(KEY, f"http://127.0.0.1:{hang_up_server.port}", sleep=sleeper)
    with pytest.raises(errors.ProviderBusy, match="connection lost") as caught:
        provider.swap(SOURCE, FACE)
    assert caught.value.retryable  # the caller may decide; this layer must not resend
    assert len(hang_up_server.requests) == 1
    assert sleeper.waits == []


def test_fetch_is_retried_after_the_connection_drops(hang_up_server, sleeper):
    provider = TtapiProvider(
        KEY, f"http://127.0.0.1:{hang_up_server.port}", sleep=sleeper, jitter=lambda: JITTER
    )
    with pytest.raises(errors.ProviderBusy):
        provider.fetch("SWAP-FACE-1")
    assert len(hang_up_server.requests) == 3
    assert sleeper.waits == [FIRST_WAIT, SECOND_WAIT]


def test_connect_failure_classification(closed_port, hang_up_server):
    with pytest.raises(requests.exceptions.ConnectionError) as refused:
        requests.get(f"http://127.0.0.1:{closed_port}/", timeout=2)
    assert is_connect_failure(refused.value)
    with pytest.raises(requests.exceptions.ConnectionError) as dropped:
        requests.post(f"http://127.0.0.1:{hang_up_server.port}/", data=b"x", timeout=2)
    assert not is_connect_failure(dropped.value)
    assert is_connect_failure(requests.exceptions.ConnectTimeout("connect timed out"))
    assert not is_connect_failure(requests.exceptions.ReadTimeout("read timed out"))
    assert not is_connect_failure(requests.exceptions.SSLError("handshake"))


# --- connections, timeouts and configuration ------------------------------------------------------


def test_one_session_reuses_its_connection(fake_ttapi, ttapi):
    job_id = started_job(fake_ttapi, ttapi)
    for _ in range(4):
        ttapi.fetch(job_id)
    pools = ttapi.http._session.get_adapter(fake_ttapi.base_url).poolmanager.pools
    assert len(pools) == 1
    pool = pools[next(iter(pools.keys()))]
    assert pool.num_requests == 5
    assert pool.num_connections == 1


def test_every_call_carries_connect_and_read_timeouts(fake_ttapi, monkeypatch):
    provider = TtapiProvider(KEY, fake_ttapi.base_url, connect_timeout=1.5, read_timeout=7)
    seen = []
    send = requests.adapters.HTTPAdapter.send

    def recording_send(self, request, **kwargs):
        seen.append(kwargs.get("timeout"))
        return send(self, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", recording_send)
    job_id = provider.swap(SOURCE, FACE).job_id
    provider.fetch(job_id)
    assert seen == [(1.5, 7.0), (1.5, 7.0)]


def test_redirects_are_not_followed(sleeper):
    # a base URL that redirects: a submit must not be re-sent somewhere else
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        provider = TtapiProvider(KEY, f"http://127.0.0.1:{server.server_address[1]}", sleep=sleeper)
        with pytest.raises(errors.ProviderBadResponse):
            provider.swap(SOURCE, FACE)
        assert hits == [SWAP]
    finally:
        server.shutdown()
        server.server_close()


def test_client_settings_are_validated():
    with pytest.raises(ValueError):
        ProviderHttp("ftp://x", {}, provider="p")
    with pytest.raises(ValueError):
        ProviderHttp("https://x", {}, provider="p", read_timeout=0)
    with pytest.raises(ValueError):
        ProviderHttp("https://x", {}, provider="p", max_attempts=0)


# --- secrets stay secret ----------------------------------------------------------------------------

SECRET = "sk-live-0123456789abcdef"


def test_key_is_hidden_from_reprs_errors_and_logs(caplog, sleeper):
    caplog.set_level(logging.DEBUG)
    with FakeTtapi(api_key=SECRET, delay=0.05) as fake:
        provider = TtapiProvider(SECRET, fake.base_url, sleep=sleeper)
        assert SECRET not in repr(provider) and SECRET not in repr(provider.http)
        assert SECRET not in repr(provider.http._session.auth)
        assert SECRET not in str(provider.http._session.headers)
        job_id = provider.swap(SOURCE, FACE).job_id
        # a provider that echoes the key in its error message
        fake.inject("bad_key", times=1, path=FETCH, message=f"invalid TT-API-KEY {SECRET}")
        with pytest.raises(errors.ProviderAuthFailed) as caught:
            provider.fetch(job_id)
        fake.inject("server_error", times=None, path=FETCH, message=f"boom for {SECRET}")
        with pytest.raises(errors.ProviderBusy) as busy:
            provider.fetch(job_id)
        assert fake.requests_to(SWAP)[0].headers["TT-API-KEY"] == SECRET  # it was sent ...
    for error in (caught.value, busy.value):
        for text in (str(error), repr(error), error.message, str(error.to_dict())):
            assert SECRET not in text  # ... and shown nowhere
        assert "***" in error.message
    assert caplog.records, "the client logs its calls"
    assert any(getattr(r, "provider", None) == "ttapi" for r in caplog.records)
    assert SECRET not in caplog.text
    for record in caplog.records:
        assert SECRET not in str(record.__dict__)


def test_bearer_key_is_redacted_too(fake_aifaceswap, sleeper):
    from swapgate.providers.aifaceswap import AifaceswapProvider

    provider = AifaceswapProvider(SECRET, fake_aifaceswap.base_url, sleep=sleeper)
    assert SECRET not in repr(provider)
    fake_aifaceswap.inject("invalid_input", message=f"key {SECRET} / Bearer {SECRET}")
    with pytest.raises(errors.ProviderInvalidInput) as caught:
        provider.swap(SOURCE, FACE)
    assert SECRET not in str(caught.value)
    assert caught.value.message.count("***") == 2
