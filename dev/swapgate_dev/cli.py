"""``swapgate``: the command-line client of the Swapgate API (the local stack or a deployed one).

    swapgate swap SOURCE FACE [--provider P] [--webhook URL] [--wait] [-o OUT] [--json]
    swapgate multi SOURCE --face FACE --index N [--face FACE --index N ...] [--wait] [-o OUT] [--json]
    swapgate faces IMAGE [--json]
    swapgate status ID [--json]
    swapgate cancel ID [--json]

Images are file paths, http(s) URLs or ``upload://`` references. Small files go in a multipart body;
larger ones through a presigned POST from ``POST /v1/uploads``. Exit codes: 0 done, 1 the API or the
job failed, 2 a usage error (bad arguments, a missing file), 130 interrupted.
"""

from __future__ import annotations

import argparse
import email.utils
import itertools
import json
import mimetypes
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from time import monotonic, sleep
from typing import Any, TextIO

import requests
import urllib3

from swapgate import __version__
from swapgate.images import CONTENT_TYPES, EXTENSIONS, sniff
from swapgate.providers.registry import provider_names

DEFAULT_URL = "http://127.0.0.1:3000"
DEFAULT_API_KEY = "local-dev-key"  # the local stack's key (make dev)
DEFAULT_TIMEOUT = 60.0
#: Files sent inline in one request, at most. A Lambda request payload is capped at 6 MB and API
#: Gateway hands multipart bodies over base64-encoded (4/3 larger), so bigger files go through uploads.
INLINE_LIMIT = 4 * 1024 * 1024
UPLOAD_PREFIX = "upload://"
TERMINAL = ("succeeded", "failed", "timed_out", "canceled")
POLL_GROWTH = 1.5
POLL_MAX_INTERVAL = 10.0
RETRIES = 3  # attempts of one request answered 429/503
RETRY_AFTER_CAP = 30.0
POLL_FAILURES = 3  # consecutive failed polls tolerated while waiting
HEARTBEAT_SECONDS = 30.0  # a "still running" line this often when stderr is not a terminal


class CliError(Exception):
    """A failure shown as ``error: <message>`` with exit code ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class ApiError(CliError):
    """An error answer of the API: ``{"error": {"code", "message", "field"?}}``."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        text = f"{code}: {message}" + (f" (field: {field})" if field else "")
        if status == 401:
            text += " - pass --api-key or set SWAPGATE_API_KEY"
        super().__init__(text)
        self.status, self.code, self.field = status, code, field


class Unreachable(CliError):
    """No HTTP answer at all (refused, unknown host, timeout)."""


# --- HTTP -----------------------------------------------------------------------------------------


def _retry_after(response: requests.Response) -> float:
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return 1.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return 1.0
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _api_error(response: requests.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return ApiError(
            response.status_code,
            str(error.get("code") or f"http_{response.status_code}"),
            str(error.get("message") or response.reason),
            error.get("field"),
        )
    if isinstance(body, dict) and isinstance(body.get("message"), str):  # API Gateway's own answers
        return ApiError(response.status_code, f"http_{response.status_code}", body["message"])
    text = " ".join((response.text or "").split())[:200] or response.reason or "no details"
    return ApiError(response.status_code, f"http_{response.status_code}", text)


class Client:
    """The v1 API at ``base_url``. The key goes only to that API, never to upload or result URLs."""

    def __init__(self, base_url: str, api_key: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.session = requests.Session()  # for the API only: it carries the key
        self.session.headers.update({"x-api-key": api_key, "User-Agent": f"swapgate-cli/{__version__}"})
        self.files = requests.Session()  # presigned uploads and results: no key
        self.files.headers["User-Agent"] = f"swapgate-cli/{__version__}"

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def _send(self, session: requests.Session, method: str, url: str, *, where: str, **kwargs: Any):
        try:
            return session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.Timeout:
            raise Unreachable(
                f"no answer from {where} within {self.timeout:g}s (raise it with --timeout)"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            if where == self.base_url:
                refused = "refused" in str(exc).lower()
                raise Unreachable(
                    f"the Swapgate API is not reachable at {where}"
                    + (" (connection refused)" if refused else "")
                    + ": start the local stack with `make dev`, or point --url / SWAPGATE_URL at a deployment"
                ) from None
            raise Unreachable(f"{where} is not reachable") from None

    def call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One API call; 429/503 answers are retried after their Retry-After. The body is sent as
        the same bytes every time, so that an Idempotency-Key matches."""
        sent = dict(headers or {})
        if content_type:
            sent["Content-Type"] = content_type
        for attempt in range(1, RETRIES + 1):
            response = self._send(
                self.session, method, self.base_url + path, where=self.base_url, data=body, headers=sent
            )
            if response.status_code in (429, 503) and attempt < RETRIES:
                sleep(_retry_after(response))
                continue
            break
        if response.status_code >= 400:
            raise _api_error(response)
        try:
            answer = response.json()
        except ValueError:
            raise ApiError(response.status_code, "invalid_answer", "the API answer is not JSON") from None
        if not isinstance(answer, dict):
            raise ApiError(response.status_code, "invalid_answer", "the API answer is not a JSON object")
        return answer

    def submit(self, path: str, parts: list[tuple[str, Any]], list_fields: tuple[str, ...] = ()):
        """POST ``parts`` (name, value) in order: multipart when a value is a file ``(name, bytes,
        type)``, JSON otherwise (``list_fields`` become arrays). Sent with an Idempotency-Key, so a
        retried request never makes a second job."""
        if any(isinstance(value, tuple) for _, value in parts):
            fields = [(name, value if isinstance(value, tuple) else str(value)) for name, value in parts]
            body, content_type = urllib3.encode_multipart_formdata(fields)
        else:
            document: dict[str, Any] = {name: [] for name in list_fields}
            for name, value in parts:
                if name in list_fields:
                    document[name].append(value)
                else:
                    document[name] = value
            body, content_type = json.dumps(document).encode(), "application/json"
        return self.call(
            "POST", path, body=body, content_type=content_type, headers={"Idempotency-Key": uuid.uuid4().hex}
        )

    def upload(self, image: ImageArg) -> str:
        """Put a local file in the bucket by a presigned POST; the ``upload://`` reference."""
        ticket = self.call("POST", "/v1/uploads")
        limit = int(ticket.get("max_bytes") or 0)
        if limit and image.size > limit:
            raise CliError(f"{image.value} is {_mb(image.size)}; the API accepts images up to {_mb(limit)}")
        if not image.content_type.startswith("image/"):
            raise CliError(f"{image.value} is not a JPEG, PNG or WebP image", exit_code=2)
        fields = list(ticket["fields"].items())
        if not any(name.lower() == "content-type" for name, _ in fields):
            fields.append(("Content-Type", image.content_type))
        with open(image.path, "rb") as data:
            response = self._send(
                self.files,
                "POST",
                ticket["url"],
                where="the upload URL",
                data=fields,
                files=[("file", (image.path.name, data, image.content_type))],
            )
        if response.status_code >= 300:
            code = re.search(r"<Code>(.*?)</Code>", response.text or "")
            detail = re.search(r"<Message>(.*?)</Message>", response.text or "")
            reason = ": ".join(m.group(1) for m in (code, detail) if m) or f"HTTP {response.status_code}"
            raise CliError(f"the upload of {image.value} failed: {reason}")
        return str(ticket["reference"])

    def download(self, url: str, out: Path | None, job_id: str) -> Path:
        """Save the result at ``url``; to ``<job id>.<ext>`` when ``out`` is None or a directory."""
        response = self._send(self.files, "GET", url, where="the result URL", stream=True)
        with response:
            if response.status_code != 200:
                raise CliError(f"downloading the result failed: HTTP {response.status_code}")
            chunks = response.iter_content(64 * 1024)
            first = next(chunks, b"")
            if out is None or out.is_dir():
                name = f"{re.sub(r'[^A-Za-z0-9._-]', '_', job_id)}.{_extension(first, response)}"
                out = (out or Path()) / name
            partial = out.with_name(out.name + ".part")
            try:
                with open(partial, "wb") as target:
                    target.write(first)
                    for chunk in chunks:
                        target.write(chunk)
                partial.replace(out)
            except OSError as exc:
                partial.unlink(missing_ok=True)
                raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
            except requests.exceptions.RequestException:
                partial.unlink(missing_ok=True)
                raise CliError("the result download was interrupted") from None
        return out


def _extension(first_bytes: bytes, response: requests.Response) -> str:
    kind = sniff(first_bytes)
    if kind:
        return EXTENSIONS[kind]
    content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    for kind, known in CONTENT_TYPES.items():
        if content_type == known:
            return EXTENSIONS[kind]
    guessed = mimetypes.guess_extension(content_type) if content_type else None
    return guessed.lstrip(".") if guessed else "bin"


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


# --- images ---------------------------------------------------------------------------------------


@dataclass
class ImageArg:
    """An image argument: a URL or ``upload://`` reference passed on, or a local file."""

    value: str
    path: Path | None = None
    size: int = 0
    content_type: str = ""

    @classmethod
    def parse(cls, value: str) -> ImageArg:
        if re.match(r"(?i)^(https?|upload)://", value):
            return cls(value)
        path = Path(value).expanduser()
        if not path.exists():
            raise CliError(f"no such file: {value}", exit_code=2)
        if not path.is_file():
            raise CliError(f"not a file: {value}", exit_code=2)
        try:
            with open(path, "rb") as data:
                head = data.read(16)
        except OSError as exc:
            raise CliError(f"cannot read {value}: {exc.strerror}", exit_code=2) from None
        kind = sniff(head)
        content_type = CONTENT_TYPES[kind] if kind else (mimetypes.guess_type(path.name)[0] or "")
        return cls(value, path, path.stat().st_size, content_type or "application/octet-stream")


def prepare(client: Client, images: list[tuple[str, ImageArg]], out: TextIO) -> list[tuple[str, Any]]:
    """(field, value) parts: files inline while their total stays under INLINE_LIMIT (smallest
    first), the others uploaded and passed as their ``upload://`` reference."""
    files = sorted((image.size, i) for i, (_, image) in enumerate(images) if image.path)
    inline: set[int] = set()
    total = 0
    for size, i in files:
        if total + size <= INLINE_LIMIT:
            inline.add(i)
            total += size
    parts: list[tuple[str, Any]] = []
    for i, (field, image) in enumerate(images):
        if image.path is None:
            parts.append((field, image.value))
        elif i in inline:
            parts.append((field, (image.path.name, image.path.read_bytes(), image.content_type)))
        else:
            print(f"uploading {image.value} ({_mb(image.size)})", file=out)
            parts.append((field, client.upload(image)))
    return parts


# --- waiting --------------------------------------------------------------------------------------


class Progress:
    """Status changes and elapsed time on stderr; a spinner only when it is a terminal."""

    FRAMES = "|/-\\"

    def __init__(self, stream: TextIO, job_id: str, quiet: bool = False) -> None:
        self.stream, self.job_id, self.quiet = stream, job_id, quiet
        self.tty = not quiet and stream.isatty()
        self.frames = itertools.cycle(self.FRAMES)
        self.spinning = False
        self.last_line = 0.0

    def _clear(self) -> None:
        if self.spinning:
            self.stream.write("\r\033[K")
            self.spinning = False

    def line(self, text: str, elapsed: float) -> None:
        if self.quiet:
            return
        self._clear()
        self.stream.write(f"[{elapsed:6.1f}s] {text}\n")
        self.stream.flush()
        self.last_line = elapsed

    def tick(self, status: str, elapsed: float) -> None:
        if self.tty:
            self.stream.write(f"\r{next(self.frames)} job {self.job_id}: {status} {elapsed:5.0f}s")
            self.stream.flush()
            self.spinning = True
        elif elapsed - self.last_line >= HEARTBEAT_SECONDS:
            self.line(f"job {self.job_id}: still {status}", elapsed)

    def done(self) -> None:
        self._clear()
        self.stream.flush()


def wait_for(
    client: Client, job_id: str, *, interval: float, max_wait: float | None, progress: Progress
) -> dict[str, Any]:
    """Poll the job, with growing intervals, until it ends (or ``max_wait`` passes)."""
    start = monotonic()
    delay, last, failures = interval, None, 0
    job: dict[str, Any] = {}
    try:
        while True:
            try:
                job = client.call("GET", f"/v1/swaps/{job_id}")
                failures = 0
            except (Unreachable, ApiError) as exc:
                transient = isinstance(exc, Unreachable) or exc.status in (429, 502, 503, 504)
                failures += 1
                if not transient or failures > POLL_FAILURES:
                    raise
                progress.line(f"polling failed ({exc.message}); trying again", monotonic() - start)
            status = job.get("status", "unknown")
            elapsed = monotonic() - start
            if job and status != last:
                progress.line(f"job {job_id}: {status}", elapsed)
                last = status
            if status in TERMINAL:
                return job
            if max_wait is not None and elapsed >= max_wait:
                raise CliError(
                    f"job {job_id} is still {status} after {max_wait:g}s; "
                    f"see it later with: swapgate status {job_id}"
                )
            until = monotonic() + delay
            while (now := monotonic()) < until:
                progress.tick(status, now - start)
                sleep(min(0.1 if progress.tty else 1.0, until - now))
            delay = min(delay * POLL_GROWTH, POLL_MAX_INTERVAL)
    finally:
        progress.done()


def finish(client: Client, job: dict[str, Any], args: argparse.Namespace) -> int:
    """After waiting: save a result, or report how the job ended."""
    status = job.get("status")
    if status != "succeeded":
        error = job.get("error") or {}
        code = error.get("code") or status
        message = error.get("message") or f"the job ended {status}"
        raise CliError(f"job {job['id']} {status}: {code}: {message}")
    if not job.get("result_url"):
        raise CliError(f"job {job['id']} succeeded but its answer has no result_url")
    saved = client.download(job["result_url"], args.output, job["id"])
    if args.json:
        _print_json({**job, "output": str(saved)})
    else:
        print(saved)
    return 0


# --- commands -------------------------------------------------------------------------------------


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, sort_keys=True))


def _submitted(client: Client, accepted: dict[str, Any], args: argparse.Namespace) -> int:
    if not args.wait:
        if args.json:
            _print_json(accepted)
        else:
            print(accepted["id"])
        return 0
    if not args.quiet:
        print(f"job {accepted['id']} accepted by provider {accepted.get('provider')}", file=sys.stderr)
    try:
        job = wait_for(
            client,
            accepted["id"],
            interval=args.interval,
            max_wait=args.max_wait,
            progress=Progress(sys.stderr, accepted["id"], args.quiet),
        )
    except KeyboardInterrupt:
        raise CliError(
            f"interrupted; job {accepted['id']} goes on: see it with `swapgate status {accepted['id']}`",
            exit_code=130,
        ) from None
    return finish(client, job, args)


def _options(args: argparse.Namespace) -> list[tuple[str, Any]]:
    return [(name, value) for name in ("provider", "webhook") if (value := getattr(args, name, None))]


def cmd_swap(client: Client, args: argparse.Namespace) -> int:
    images = [("source_image", ImageArg.parse(args.source)), ("face_image", ImageArg.parse(args.face))]
    parts = prepare(client, images, sys.stderr) + _options(args)
    return _submitted(client, client.submit("/v1/swaps", parts), args)


def cmd_multi(client: Client, args: argparse.Namespace) -> int:
    images = [("source_image", ImageArg.parse(args.source))]
    images += [("face_images", ImageArg.parse(face)) for face in args.faces]
    parts = prepare(client, images, sys.stderr)
    parts += [("indexes", index) for index in args.indexes] + _options(args)
    accepted = client.submit("/v1/swaps/multi", parts, list_fields=("face_images", "indexes"))
    return _submitted(client, accepted, args)


def cmd_faces(client: Client, args: argparse.Namespace) -> int:
    parts = prepare(client, [("image", ImageArg.parse(args.image))], sys.stderr) + _options(args)
    answer = client.submit("/v1/faces", parts)
    if args.json:
        _print_json(answer)
        return 0
    faces = answer.get("faces") or []
    for index, box in enumerate(faces):
        print(f"{index}: {','.join(str(v) for v in box)}")
    if not faces:
        print("no faces found", file=sys.stderr)
    return 0


def _print_job(job: dict[str, Any]) -> None:
    for key in ("id", "status", "provider", "created_at", "updated_at", "points", "result_url"):
        if job.get(key) is not None:
            print(f"{key + ':':<12}{job[key]}")
    error = job.get("error")
    if error:
        field = f" (field: {error['field']})" if error.get("field") else ""
        print(f"{'error:':<12}{error.get('code')}: {error.get('message')}{field}")


def cmd_status(client: Client, args: argparse.Namespace) -> int:
    job = client.call("GET", f"/v1/swaps/{_job_id(args.id)}")
    if args.json:
        _print_json(job)
    else:
        _print_job(job)
    return 0


def cmd_cancel(client: Client, args: argparse.Namespace) -> int:
    job = client.call("POST", f"/v1/swaps/{_job_id(args.id)}/cancel")
    if args.json:
        _print_json(job)
    else:
        print(f"{job.get('id')}: {job.get('status')}")
    if job.get("status") != "canceled":
        print(f"the job had already ended {job.get('status')}: nothing was canceled", file=sys.stderr)
    return 0


def _job_id(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise CliError(f"not a job id: {value!r}", exit_code=2)
    return value


# --- arguments ------------------------------------------------------------------------------------


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def _index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a face index: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a face index is 0 or more: {text!r}")
    return value


def _connection_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """--url/--api-key/--timeout, accepted before and after the command name."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    group = parser.add_argument_group("connection")
    group.add_argument(
        "--url",
        default=default(os.environ.get("SWAPGATE_URL") or DEFAULT_URL),
        help=f"the API's base URL (env SWAPGATE_URL; default {DEFAULT_URL}, the local stack)",
    )
    group.add_argument(
        "--api-key",
        default=default(os.environ.get("SWAPGATE_API_KEY") or DEFAULT_API_KEY),
        help="the client API key (env SWAPGATE_API_KEY; default: the local stack's key)",
    )
    group.add_argument(
        "--timeout",
        type=_positive,
        default=default(DEFAULT_TIMEOUT),
        help=f"seconds to wait for one HTTP answer (default {DEFAULT_TIMEOUT:g})",
    )


def _job_options(parser: argparse.ArgumentParser) -> None:
    *names, last = provider_names()
    parser.add_argument("--provider", help=f"{', '.join(names)} or {last} (default: the deployment's)")
    parser.add_argument("--webhook", metavar="URL", help="an https URL called when the job ends")
    parser.add_argument("--wait", action="store_true", help="wait for the job and save its result")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT",
        help="where to save the result (implies --wait; default <job id>.<ext>; a directory works)",
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "--interval", type=_positive, default=1.0, help="first poll interval in seconds (default 1)"
    )
    parser.add_argument("--max-wait", type=_positive, metavar="SECONDS", help="give up waiting after this")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swapgate",
        description="Command-line client of the Swapgate face-swap API.",
        epilog="Images are file paths or http(s) URLs. Exit codes: 0 ok, 1 API or job error, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"swapgate {__version__}")
    _connection_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _connection_options(sub, defaults=False)
        sub.set_defaults(subparser=sub)
        return sub

    swap = command("swap", "put the face of FACE into SOURCE")
    swap.add_argument("source", metavar="SOURCE", help="the picture whose face is replaced")
    swap.add_argument("face", metavar="FACE", help="the face put in")
    _job_options(swap)
    swap.set_defaults(run=cmd_swap)

    multi = command("multi", "replace several faces of SOURCE: each --face goes to the face at its --index")
    multi.add_argument("source", metavar="SOURCE")
    multi.add_argument(
        "--face", dest="faces", action="append", default=[], metavar="FACE", help="a face (repeat)"
    )
    multi.add_argument(
        "--index",
        dest="indexes",
        action="append",
        type=_index,
        default=[],
        metavar="N",
        help="the index (from `swapgate faces`) of the face the --face of the same position replaces",
    )
    _job_options(multi)
    multi.set_defaults(run=cmd_multi)

    faces = command("faces", "list the faces in IMAGE: `index: x1,y1,x2,y2`, the index used by multi")
    faces.add_argument("image", metavar="IMAGE")
    faces.add_argument("--provider", help="the provider that detects (default: the deployment's)")
    faces.add_argument("--json", action="store_true", help="print the API's JSON answer")
    faces.set_defaults(run=cmd_faces)

    status = command("status", "show a job")
    status.add_argument("id", metavar="ID")
    status.add_argument("--json", action="store_true", help="print the API's JSON answer")
    status.set_defaults(run=cmd_status)

    cancel = command("cancel", "cancel a queued or running job")
    cancel.add_argument("id", metavar="ID")
    cancel.add_argument("--json", action="store_true", help="print the API's JSON answer")
    cancel.set_defaults(run=cmd_cancel)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return int(exc.code or 0)
    if args.command == "multi":
        if not args.faces:
            return _usage(args.subparser, "give at least one --face with its --index")
        if len(args.faces) != len(args.indexes):
            return _usage(
                args.subparser,
                f"give one --index for each --face, in the same order "
                f"(got {len(args.faces)} --face and {len(args.indexes)} --index)",
            )
        if len(args.faces) > 10:
            return _usage(args.subparser, f"at most 10 faces per job (got {len(args.faces)})")
    if getattr(args, "output", None) is not None:
        args.wait = True
    if not re.match(r"(?i)^https?://[^/]", args.url):
        return _usage(args.subparser, f"--url must be an http(s) URL, not {args.url!r}")
    client = Client(args.url, args.api_key, args.timeout)
    try:
        return args.run(client, args)
    except CliError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        client.session.close()
        client.files.close()


def _usage(parser: argparse.ArgumentParser, message: str) -> int:
    """A usage error found after parsing, shown as argparse shows its own."""
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
