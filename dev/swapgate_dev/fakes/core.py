"""Shared machinery of the provider fakes: the loopback HTTP server, request recording, failure
injection, jobs that finish after a delay, webhook delivery and the fake CDN.

A provider module subclasses :class:`FakeProvider` and supplies its routes, its auth check, its error
shape and its handlers. Nothing here knows a provider's field names.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from swapgate_dev.fakes.media import FilePart, MultipartError, make_png, parse_multipart
from swapgate_dev.serving import Served, serve_in_thread, stop_serving, wait_for_items

logger = logging.getLogger("swapgate_dev.fakes")

MAX_BODY = 32 * 1024 * 1024
SECRET_HEADERS = frozenset({"authorization", "tt-api-key"})

#: injections that change the answer to a request, with the HTTP status they answer
REQUEST_FAULTS: dict[str, int] = {
    "bad_key": 401,
    "blocked": 403,
    "quota": 402,
    "rate_limited": 429,
    "queue_full": 499,
    "server_error": 500,
    "gateway_timeout": 504,
    "invalid_input": 400,
    "not_found": 404,
    "envelope_error": 200,
    "malformed_json": 200,
    "slow": 0,  # sleeps, then answers normally (or with another injected fault)
}
#: injections that change the outcome of the next jobs created
JOB_FAULTS = frozenset({"job_failed", "duplicate_webhook", "late_webhook", "no_webhook"})


def is_http_url(value: object) -> bool:
    """An absolute http(s) URL with a host and no whitespace."""
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _request_group(kind: str) -> str | None:
    if kind == "slow":
        return "slow"
    return "fault" if kind in REQUEST_FAULTS else None


class BadRequest(Exception):
    """Raised by a provider handler: answer ``status`` with ``message`` in the provider's error shape."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), "application/json", headers or {})


@dataclass(repr=False)
class RecordedRequest:
    """One request the fake received, parsed. ``form`` and ``query`` map names to lists of values."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict
    body: bytes
    content_type: str = ""
    json: Any = None
    form: dict[str, list[str]] = field(default_factory=dict)
    files: list[FilePart] = field(default_factory=list)
    body_error: str | None = None  # why the body could not be parsed as its content type says
    status: int | None = None  # the status the fake answered

    @property
    def kind(self) -> str:
        """``json``, ``multipart``, ``urlencoded``, ``empty`` or ``other``."""
        ctype = self.content_type.split(";")[0].strip().lower()
        if not self.body and not ctype:
            return "empty"
        return {
            "application/json": "json",
            "multipart/form-data": "multipart",
            "application/x-www-form-urlencoded": "urlencoded",
        }.get(ctype, "other")

    def __repr__(self) -> str:  # no keys, no image bytes
        headers = {k: ("<redacted>" if k.lower() in SECRET_HEADERS else v) for k, v in self.headers.items()}
        return (
            f"RecordedRequest({self.method} {self.path} status={self.status} headers={headers} "
            f"kind={self.kind} json_keys={sorted(self.json) if isinstance(self.json, dict) else None} "
            f"form={self.form} files={self.files} body_size={len(self.body)})"
        )


@dataclass
class Injection:
    kind: str
    times: int | None  # None: every matching request / job until reset
    path: str | None  # None: every API path (not the CDN)
    params: dict[str, Any]
    used: int = 0

    @property
    def active(self) -> bool:
        return self.times is None or self.used < self.times

    def matches(self, path: str, is_api: bool) -> bool:
        if self.path is None:
            return is_api
        base = self.path.rstrip("/")
        return path == self.path or path.startswith(base + "/")


@dataclass
class Job:
    """A provider job. Its state follows the clock: queued for the first third of ``delay``, running
    until ``delay`` has passed, then ``outcome``."""

    id: str
    kind: str
    inputs: dict[str, Any]
    webhook: str | None
    delay: float
    cost: int
    outcome: str = "succeeded"  # or "failed"
    message: str = ""
    webhook_mode: str = "normal"  # normal | duplicate | late | none
    webhook_copies: int = 1
    webhook_extra_delay: float = 0.0
    result_urls: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic, repr=False)

    @property
    def state(self) -> str:
        elapsed = time.monotonic() - self.started
        if elapsed >= self.delay:
            return self.outcome
        return "queued" if elapsed < self.delay / 3 else "running"

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed")


class WebhookDelivery(NamedTuple):
    url: str
    body: dict[str, Any]
    status: int | str  # the receiver's HTTP status, or the error's type name


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    fake: FakeProvider


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stalls

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self._send(Response.json(400, {"error": str(exc)}))
            self.close_connection = True
            return
        response = self.server.fake._dispatch(self.command, self.path, self.headers, body)
        self._send(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. a read timeout)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # path and status only, never headers
        logger.debug("%s %s", self.server.fake.name, format % args)


class FakeProvider(Served):
    """Base of the fakes. Subclasses set ``name`` and ``routes`` and implement the hooks below."""

    name = "fake"
    routes: dict[str, frozenset[str]] = {}  # path -> allowed methods
    malformed_body = b'{"status": 200, "data": {'  # what ``malformed_json`` answers: cut-off JSON

    def __init__(
        self,
        api_key: str = "test-key",
        delay: float = 0.2,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_timeout: float = 5.0,
    ) -> None:
        self.api_key = api_key
        self.delay = delay
        self.host = host
        self.port = port
        self.webhook_timeout = webhook_timeout
        self._lock = threading.RLock()
        self._webhook_cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timers: list[threading.Timer] = []
        self._counter = itertools.count(1)
        self._clear()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url if self._server else None!r})"

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeProvider:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self.port), _Handler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = serve_in_thread(server, poll_interval=0.02, name=f"fake-{self.name}")
        logger.info("fake %s listening on %s", self.name, self.base_url)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._cancel_timers()
        stop_serving(self._server, self._thread, timeout=5)
        self._server = self._thread = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # --- what tests look at ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    @property
    def jobs(self) -> dict[str, Job]:
        with self._lock:
            return dict(self._jobs)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        with self._lock:
            return list(self._deliveries)

    @property
    def injections(self) -> list[Injection]:
        with self._lock:
            return list(self._injections)

    def wait_for_webhooks(self, n: int, timeout: float = 5.0) -> list[WebhookDelivery]:
        """Block until ``n`` deliveries were attempted; return them. Raises ``TimeoutError``."""
        return wait_for_items(self._webhook_cond, lambda: self._deliveries, n, timeout, "webhook deliveries")

    def result_image(self, job_id: str) -> bytes:
        """The PNG the fake CDN serves for a succeeded job."""
        return make_png(job_id)

    def reset(self) -> None:
        """Forget injections, jobs, recorded requests and deliveries. Settings stay."""
        self._cancel_timers()
        self._clear()

    def _clear(self) -> None:
        with self._lock:
            self._generation = getattr(self, "_generation", 0) + 1
            self._requests: list[RecordedRequest] = []
            self._jobs: dict[str, Job] = {}
            self._deliveries: list[WebhookDelivery] = []
            self._injections: list[Injection] = []
            self._cdn: dict[str, str] = {}  # CDN path -> job id

    def _cancel_timers(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    # --- failure injection -----------------------------------------------------------------------

    def inject(self, kind: str, times: int | None = 1, path: str | None = None, **params: Any) -> Injection:
        """Make the next ``times`` matching requests (or jobs, for job faults) misbehave.

        Request faults: see ``REQUEST_FAULTS``; params ``retry_after`` (rate_limited), ``seconds``
        (slow), ``message`` and ``code`` (error text / envelope code), ``body`` (malformed_json).
        Job faults: ``job_failed`` (``message``), ``duplicate_webhook`` (``copies``, default 2),
        ``late_webhook`` (``extra_delay``, default 1.0), ``no_webhook``; each also takes ``delay``
        (seconds until the job finishes). ``path`` limits an injection to one path (or a path prefix
        ending in ``/``); without it, request faults hit every API path but not the CDN.
        """
        if kind not in REQUEST_FAULTS and kind not in JOB_FAULTS:
            raise ValueError(f"unknown injection {kind!r}")
        injection = Injection(kind, times, path, params)
        with self._lock:
            self._injections.append(injection)
        return injection

    def _take(self, path: str, is_api: bool, group: Callable[[str], str | None]) -> list[Injection]:
        """Consume the first active matching injection of each group (``group(kind)``; None: skip)."""
        taken: dict[str, Injection] = {}
        with self._lock:
            for inj in self._injections:
                key = group(inj.kind)
                if key is not None and key not in taken and inj.active and inj.matches(path, is_api):
                    inj.used += 1
                    taken[key] = inj
        return list(taken.values())

    # --- request handling ------------------------------------------------------------------------

    def _dispatch(self, method: str, raw_path: str, headers: Any, body: bytes) -> Response:
        split = urlsplit(raw_path)
        ctype = headers.get("Content-Type", "")
        req = RecordedRequest(
            method=method,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=CaseInsensitiveDict(headers.items()),
            body=body,
            content_type=ctype,
        )
        self._parse_body(req)
        with self._lock:
            self._requests.append(req)
        try:
            response = self._answer(req)
        except BadRequest as exc:
            response = self.error_response(exc.status, exc.message)
        except Exception:  # a bug in the fake: answer 500 rather than drop the connection
            logger.exception("fake %s failed on %s %s", self.name, method, req.path)
            response = self.error_response(500, "fake internal error")
        req.status = response.status
        return response

    @staticmethod
    def _parse_body(req: RecordedRequest) -> None:
        kind = req.kind
        try:
            if kind == "json":
                req.json = json.loads(req.body.decode("utf-8"))
            elif kind == "multipart":
                req.form, req.files = parse_multipart(req.content_type, req.body)
            elif kind == "urlencoded":
                req.form = parse_qs(req.body.decode("utf-8"), keep_blank_values=True)
        except (ValueError, UnicodeDecodeError, MultipartError) as exc:
            req.body_error = f"the body is not valid {kind}: {type(exc).__name__}"

    def _answer(self, req: RecordedRequest) -> Response:
        is_api = req.path in self.routes
        is_cdn = req.path in self._cdn
        if not is_api and not is_cdn:
            return self.error_response(404, "Not Found")
        if is_api and req.method not in self.routes[req.path]:
            return self.error_response(405, "Method Not Allowed")
        # at most one "slow" and one failure per request, oldest injection first
        faults = self._take(req.path, is_api, _request_group)
        failure = None
        for inj in faults:
            if inj.kind == "slow":
                if self._stopping.wait(float(inj.params.get("seconds", 2.0))):
                    return self.error_response(503, "stopping")
            elif failure is None:
                failure = inj
        if failure is not None:
            return self.fault_response(failure)
        if is_cdn:
            return self._serve_cdn(req)
        if not self.check_auth(req):
            return self.error_response(401, "Unauthorized: missing or invalid API key")
        return self.handle(req)

    def _serve_cdn(self, req: RecordedRequest) -> Response:
        if req.method not in ("GET", "HEAD"):
            return Response(405, b"Method Not Allowed", "text/plain")
        job = self.jobs.get(self._cdn.get(req.path, ""))
        if job is None or job.state != "succeeded":
            return Response(404, b"Not Found", "text/plain")
        return Response(200, self.result_image(job.id), "image/png", {"Cache-Control": "max-age=86400"})

    def fault_response(self, inj: Injection) -> Response:
        """The answer to an injected request fault, in this provider's shape."""
        status = REQUEST_FAULTS[inj.kind]
        if inj.kind == "malformed_json":
            body = inj.params.get("body", self.malformed_body)
            return Response(200, body if isinstance(body, bytes) else str(body).encode())
        message = (
            inj.params.get("message")
            or {
                401: "Unauthorized: invalid API key",
                402: "Insufficient balance",
                403: "Account blocked",
                429: "Too many requests",
                499: "Queue is full, please retry later",
                500: "Internal server error",
                504: "Gateway timeout",
                400: "Invalid input",
                404: "Not found",
                200: "Internal error",
            }[status]
        )
        headers = {}
        if inj.kind == "rate_limited":
            headers["Retry-After"] = str(inj.params.get("retry_after", 1))
        response = self.error_response(status, message)
        response.headers.update(headers)
        return response

    # --- jobs and webhooks -----------------------------------------------------------------------

    def new_job(
        self, req: RecordedRequest, job_id: str, kind: str, inputs: dict, webhook: str | None, cost: int
    ) -> Job:
        job = Job(job_id, kind, inputs, webhook, self.delay, cost)
        for inj in self._take(req.path, True, lambda k: k if k in JOB_FAULTS else None):
            if "delay" in inj.params:
                job.delay = float(inj.params["delay"])
            if inj.kind == "job_failed":
                job.outcome = "failed"
                job.message = inj.params.get("message", "face swap failed")
                job.extra.update({k: v for k, v in inj.params.items() if k not in ("delay", "message")})
            elif inj.kind == "duplicate_webhook":
                job.webhook_mode, job.webhook_copies = "duplicate", int(inj.params.get("copies", 2))
            elif inj.kind == "late_webhook":
                job.webhook_mode = "late"
                job.webhook_extra_delay = float(inj.params.get("extra_delay", 1.0))
            elif inj.kind == "no_webhook":
                job.webhook_mode = "none"
        job.result_urls = self.result_urls(job)
        with self._lock:
            self._jobs[job.id] = job
            for url in job.result_urls.values():
                self._cdn[urlsplit(url).path] = job.id
            timer = threading.Timer(job.delay, self._finish, args=(job, self._generation))
            timer.daemon = True
            self._timers.append(timer)
        timer.start()
        return job

    def cdn_query(self) -> str:
        """A signed-looking expiring query string like Discord's (``ex``, ``is``, ``hm``)."""
        now = int(time.time())
        return f"ex={now + 86400:08x}&is={now:08x}&hm={secrets.token_hex(32)}&"

    def next_number(self) -> int:
        return next(self._counter)

    def _finish(self, job: Job, generation: int) -> None:
        remaining = job.delay - (time.monotonic() - job.started)
        if remaining > 0 and self._stopping.wait(remaining):
            return
        if not job.webhook or job.webhook_mode == "none":
            return
        if job.webhook_mode == "late" and self._stopping.wait(job.webhook_extra_delay):
            return
        body = self.webhook_body(job)
        for _ in range(job.webhook_copies):
            if self._stopping.is_set():
                return
            try:
                resp = requests.post(job.webhook, json=body, timeout=self.webhook_timeout)
                status: int | str = resp.status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            with self._webhook_cond:
                if generation != self._generation:
                    return
                self._deliveries.append(WebhookDelivery(job.webhook, body, status))
                self._webhook_cond.notify_all()

    # --- provider hooks --------------------------------------------------------------------------

    def check_auth(self, req: RecordedRequest) -> bool:
        raise NotImplementedError

    def error_response(self, status: int, message: str) -> Response:
        raise NotImplementedError

    def handle(self, req: RecordedRequest) -> Response:
        raise NotImplementedError

    def result_urls(self, job: Job) -> dict[str, str]:
        """Name -> URL of the result image on the fake CDN (registered when the job is created)."""
        raise NotImplementedError

    def webhook_body(self, job: Job) -> dict[str, Any]:
        raise NotImplementedError
