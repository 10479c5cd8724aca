"""A loopback HTTP server that answers as the Swapgate v1 API documents (and as a presigned-POST
bucket and a result host would), recording every request, for the tests of the ``swapgate`` CLI."""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import socket
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
API_KEY = "sk-cli-test-0123456789"
RESULT_PNG = (FACES / "astronaut.png").read_bytes()[:4096]  # starts with the PNG signature


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # the test clock's time (see FakeClock), else time.monotonic()

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def parts(self) -> list[Part]:
        """The multipart parts in order, parsed by the standard library's MIME parser."""
        content_type = self.headers["content-type"]
        assert content_type.startswith("multipart/form-data"), content_type
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + self.body
        )
        assert message.is_multipart()
        return [
            Part(
                name=part.get_param("name", header="content-disposition"),
                filename=part.get_filename(),
                content_type=part.get_content_type() if part.get("content-type") else None,
                data=part.get_payload(decode=True) or b"",
            )
            for part in message.iter_parts()
        ]


@dataclass
class Job:
    id: str
    statuses: list[str]  # what successive GETs answer; the last one repeats
    error: dict | None = None
    polls: int = 0
    created: float = 0.0  # the clock's time when it was made


@dataclass
class FakeApi:
    """Routes: POST /v1/swaps, /v1/swaps/multi, /v1/faces, /v1/uploads, GET /v1/swaps/{id},
    POST /v1/swaps/{id}/cancel, DELETE /v1/swaps/{id} (all needing x-api-key), POST /bucket (the presigned POST target),
    GET /results/{id} (the result)."""

    api_key: str = API_KEY
    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    #: statuses of the next job created, in GET order
    next_statuses: list[str] = field(default_factory=lambda: ["queued", "running", "succeeded"])
    next_error: dict | None = None
    #: canned answers consumed in order before routing: (method, path regex, status, body, headers)
    canned: list[tuple[str, str, int, Any, dict[str, str]]] = field(default_factory=list)
    result_bytes: bytes = RESULT_PNG
    result_type: str = "image/png"
    max_bytes: int = 10 * 1024 * 1024
    faces: list[list[int]] = field(default_factory=lambda: [[10, 20, 110, 140], [200, 25, 290, 150]])
    delay: float = 0.0  # seconds before answering any request
    clock: Any = None
    #: answer ``Prefer: wait`` as the API does (needs ``clock``): jobs then succeed ``job_seconds``
    #: (virtual) after they are made, and a waiting answer moves the clock on as the server would
    honour_wait: bool = False
    job_seconds: float = 1.0
    uploads: dict[str, list[Part]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def answer_once(
        self, method: str, path: str, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        self.canned.append((method, path, status, body, headers or {}))

    def of(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(path, r.path)]

    # --- routing ----------------------------------------------------------------------------------

    def handle(self, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        for i, (method, path, status, body, headers) in enumerate(self.canned):
            if method == request.method and re.fullmatch(path, request.path):
                del self.canned[i]
                return status, body, headers
        if request.path == "/bucket" and request.method == "POST":
            return self.bucket_post(request)
        if match := re.fullmatch(r"/results/(\w+)", request.path):
            return 200, self.result_bytes, {"Content-Type": self.result_type}
        if request.headers.get("x-api-key") != self.api_key:
            return self.error(401, "unauthorized", "the API key is not valid")
        route = (request.method, request.path)
        wait = self.wait_asked(request)
        if route in (("POST", "/v1/swaps"), ("POST", "/v1/swaps/multi")):
            job = Job(f"job{next(self._ids):04d}", list(self.next_statuses), self.next_error)
            job.created = self.clock.now if self.clock else 0.0
            self.jobs[job.id] = job
            if wait is not None:
                return self.waited(job, wait, 201)
            return 202, {"id": job.id, "status": "queued", "provider": "local", "points": 1}, {}
        if route == ("POST", "/v1/faces"):
            return 200, {"faces": self.faces, "points": 0}, {}
        if route == ("POST", "/v1/uploads"):
            upload_id = f"up{next(self._ids):04d}"
            return (
                200,
                {
                    "reference": f"upload://{upload_id}",
                    "url": f"{self.base_url}/bucket",
                    "fields": {"key": f"uploads/{upload_id}", "policy": "cG9saWN5", "x-amz-signature": "sig"},
                    "expires_in": 900,
                    "max_bytes": self.max_bytes,
                },
                {},
            )
        if match := re.fullmatch(r"/v1/swaps/(\w+)(/cancel)?", request.path):
            job = self.jobs.get(match.group(1))
            if job is None:
                return self.error(404, "not_found", f"no job {match.group(1)!r}", "id")
            if match.group(2) and request.method == "POST":
                job.statuses = ["canceled"]
                job.polls = 0
                return 200, self.view(job, "canceled"), {}
            if request.method == "DELETE" and not match.group(2):
                now = job.statuses[min(job.polls, len(job.statuses) - 1)]
                job.statuses, job.polls = ["canceled" if now in ("queued", "running") else now], 0
                return 200, self.view(job, job.statuses[0]) | {"result_url": None, "data_removed": True}, {}
            if request.method == "GET" and self.honour_wait:
                job.polls += 1
                return self.waited(job, wait or 0, 200, applied=wait is not None)
            if request.method == "GET":
                status = job.statuses[min(job.polls, len(job.statuses) - 1)]
                job.polls += 1
                return 200, self.view(job, status), {}
        return self.error(404, "not_found", f"no route {request.method} {request.path}")

    def wait_asked(self, request: Recorded) -> int | None:
        match = re.fullmatch(r"wait=(\d+)", request.headers.get("prefer", ""))
        return int(match.group(1)) if self.honour_wait and match else None

    def waited(
        self, job: Job, wait: int, ended_status: int, applied: bool = True
    ) -> tuple[int, Any, dict[str, str]]:
        """Hold the answer until the job ends or ``wait`` passes (on the virtual clock); without a
        preference (``applied`` false) a GET answers 200 at once."""
        left = job.created + self.job_seconds - self.clock.now
        if left > 0:
            self.clock.now += min(wait, left)
        ended = self.clock.now >= job.created + self.job_seconds
        answer = self.view(job, "succeeded" if ended else "running")
        if not applied:
            return 200, answer, {}
        return (ended_status if ended else 202), answer, {"Preference-Applied": f"wait={wait}"}

    def view(self, job: Job, status: str) -> dict[str, Any]:
        return {
            "id": job.id,
            "status": status,
            "provider": "local",
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:05Z",
            "points": 1,
            "result_url": f"{self.base_url}/results/{job.id}?X-Amz-Signature=abc"
            if status == "succeeded"
            else None,
            "error": job.error if status in ("failed", "timed_out", "canceled") else None,
        }

    def bucket_post(self, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        parts = request.parts
        names = [p.name for p in parts]
        if names[-1] != "file" or not {"key", "policy", "x-amz-signature", "Content-Type"} <= set(names):
            return 400, b"<Error><Code>InvalidArgument</Code><Message>bad form</Message></Error>", {}
        content_type = next(p.text for p in parts if p.name == "Content-Type")
        if not content_type.startswith("image/"):
            return 403, b"<Error><Code>AccessDenied</Code><Message>policy</Message></Error>", {}
        key = next(p.text for p in parts if p.name == "key")
        self.uploads[key] = parts
        return 204, b"", {}

    @staticmethod
    def error(status: int, code: str, message: str, field_name: str | None = None):
        body = {"code": code, "message": message, **({"field": field_name} if field_name else {})}
        return status, {"error": body}, {}


def handler_for(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            now = api.clock.now if api.clock else time.monotonic()
            path = self.path.split("?", 1)[0]
            recorded = Recorded(
                self.command, path, {k.lower(): v for k, v in self.headers.items()}, body, now
            )
            api.requests.append(recorded)
            if api.delay:
                time.sleep(api.delay)
            status, answer, headers = api.handle(recorded)
            if isinstance(answer, bytes):
                data = answer
                headers = {"Content-Type": "application/xml", **headers} if answer else headers
            elif isinstance(answer, str):
                data, headers = answer.encode(), {"Content-Type": "text/html", **headers}
            else:
                data, headers = json.dumps(answer).encode(), {"Content-Type": "application/json", **headers}
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except ConnectionError:  # the client gave up (a timeout test): no traceback in a later test
                self.close_connection = True

        do_GET = do_POST = do_DELETE = _serve

    return Handler


class FakeClock:
    """Virtual time for the CLI's waiting loop: ``sleep`` advances it at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
