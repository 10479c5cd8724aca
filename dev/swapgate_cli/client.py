"""The Swapgate v1 API over HTTP: the key, error answers, retries of 429/503, uploads and results."""

from __future__ import annotations

import email.utils
import json
import mimetypes
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from time import sleep
from typing import Any

import requests
import urllib3
from swapgate import __version__
from swapgate.images import CONTENT_TYPES, EXTENSIONS, sniff
from swapgate.retry import Backoff, call_with_retries

from swapgate_cli.errors import ApiError, CliError, Unreachable
from swapgate_cli.images import ImageArg, mb

DEFAULT_TIMEOUT = 60.0
RETRIES = 3  # attempts of one request answered 429/503
RETRY_STATUSES = (429, 503)
RETRY_AFTER_CAP = 30.0
#: The wait between attempts is the answer's Retry-After alone (1 s when it names none).
SERVER_PACED = Backoff(base=0.0, cap=0.0)


@dataclass(frozen=True)
class Answer:
    """A successful API answer: its status, whether the API waited as asked, and its JSON object."""

    status: int
    body: dict[str, Any]
    waited: bool = False  # the answer carried Preference-Applied


class _Busy(Exception):
    """A 429/503 answer, raised so that ``call_with_retries`` tries again."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


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

    def close(self) -> None:
        self.session.close()
        self.files.close()

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

    def call(self, method: str, path: str, **request: Any) -> dict[str, Any]:
        """One API call's JSON object (``request``: ``body``, ``content_type``, ``headers``; see
        :meth:`request`)."""
        return self.request(method, path, **request).body

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One API call; 429/503 answers are retried after their Retry-After. The body is sent as
        the same bytes every time, so that an Idempotency-Key matches."""
        sent = dict(headers or {})
        if content_type:
            sent["Content-Type"] = content_type

        def attempt() -> requests.Response:
            response = self._send(
                self.session, method, self.base_url + path, where=self.base_url, data=body, headers=sent
            )
            if response.status_code in RETRY_STATUSES:
                raise _Busy(response)
            return response

        try:
            response = call_with_retries(
                attempt,
                attempts=RETRIES,
                backoff=SERVER_PACED,
                retry_on=lambda exc: isinstance(exc, _Busy),
                retry_after=lambda exc: _retry_after(exc.response),
                sleep=sleep,  # this module's, at call time: tests swap in a virtual clock
            )
        except _Busy as busy:  # still busy after the last attempt: its answer is the error
            response = busy.response
        if response.status_code >= 400:
            raise _api_error(response)
        try:
            answer = response.json()
        except ValueError:
            raise ApiError(response.status_code, "invalid_answer", "the API answer is not JSON") from None
        if not isinstance(answer, dict):
            raise ApiError(response.status_code, "invalid_answer", "the API answer is not a JSON object")
        return Answer(response.status_code, answer, "Preference-Applied" in response.headers)

    def submit(
        self, path: str, parts: list[tuple[str, Any]], list_fields: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """``create``'s JSON object."""
        return self.create(path, parts, list_fields).body

    def create(
        self,
        path: str,
        parts: list[tuple[str, Any]],
        list_fields: tuple[str, ...] = (),
        *,
        wait: int | None = None,
    ) -> Answer:
        """POST ``parts`` (name, value) in order: multipart when a value is a file ``(name, bytes,
        type)``, JSON otherwise (``list_fields`` become arrays). Sent with an Idempotency-Key, so a
        retried request never makes a second job; with ``wait``, ``Prefer: wait=<wait>``."""
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
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        if wait is not None:
            headers["Prefer"] = f"wait={wait}"
        return self.request("POST", path, body=body, content_type=content_type, headers=headers)

    def upload(self, image: ImageArg) -> str:
        """Put a local file in the bucket by a presigned POST; the ``upload://`` reference."""
        ticket = self.call("POST", "/v1/uploads")
        limit = int(ticket.get("max_bytes") or 0)
        if limit and image.size > limit:
            raise CliError(f"{image.value} is {mb(image.size)}; the API accepts images up to {mb(limit)}")
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
