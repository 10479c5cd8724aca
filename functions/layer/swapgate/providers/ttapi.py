"""The TTAPI SwapFace (insightFace) adapter (``https://api.ttapi.io``).

* Auth: ``TT-API-KEY: <key>``.
* ``POST /insightFace/v1/swap`` with JSON ``targetImage`` (our ``source``: the picture whose face is
  replaced), ``swapImage`` (our ``face``) and optional ``hookUrl``; the job id comes back as
  ``data.jobId`` (older docs) or ``data.job_id`` (newer ones).
* ``/insightFace/v1/fetch`` with ``jobId``: a POST with a JSON body by default, or a GET with a query
  string (``fetch_method="GET"``; a POST answered 405 switches this client to GET). Its answer has the
  same shape as the ``hookUrl`` callback, so :meth:`TtapiProvider.parse_webhook` reads both.
* Statuses: ``PENDING_QUEUE`` and ``ON_QUEUE`` are running, ``SUCCESS`` succeeded (``cdnImage``,
  else ``discordImage``), ``FAILED`` failed with ``message`` as the reason. ``quota`` is the cost.
* Inputs are URLs only (``accepts_bytes = False``); multi-face swap and face extraction do not exist.
"""

from __future__ import annotations

from typing import Any

from swapgate.errors import InvalidRequest, ProviderBadResponse, ProviderJobFailed, SwapgateError
from swapgate.providers.base import ImageInput, Provider, ProviderJob, ProviderState
from swapgate.providers.http import ProviderHttp, int_or_none, load_body
from swapgate.providers.http_errors import error_for, message_code
from swapgate.providers.registry import PROVIDERS

PATH_SWAP = "/insightFace/v1/swap"
PATH_FETCH = "/insightFace/v1/fetch"

#: TTAPI status word -> our state. The only place these words are read.
STATUS_STATES = {
    "PENDING_QUEUE": ProviderState.RUNNING,
    "ON_QUEUE": ProviderState.RUNNING,
    "SUCCESS": ProviderState.SUCCEEDED,
    "FAILED": ProviderState.FAILED,
}


class TtapiProvider(Provider):
    spec = PROVIDERS["ttapi"]

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        fetch_method: str = "POST",
        **http_options: Any,
    ) -> None:
        if not api_key:
            raise ValueError("a TTAPI API key is required")
        fetch_method = fetch_method.upper()
        if fetch_method not in ("POST", "GET"):
            raise ValueError("fetch_method is POST or GET")
        self.fetch_method = fetch_method
        self.http = ProviderHttp(
            base_url or self.spec.default_base_url,
            {"TT-API-KEY": api_key},
            provider=self.name,
            **http_options,
        )

    def __repr__(self) -> str:
        return (
            f"TtapiProvider(base_url={self.http.base_url!r}, fetch_method={self.fetch_method!r}, "
            "api_key=<hidden>)"
        )

    # -- operations -----------------------------------------------------------------------------

    def swap(self, source: ImageInput, face: ImageInput, webhook_url: str | None = None) -> ProviderJob:
        body: dict[str, Any] = {
            "targetImage": _url(source, "source"),
            "swapImage": _url(face, "face"),
        }
        if webhook_url:
            body["hookUrl"] = webhook_url
        payload = self.http.submit(PATH_SWAP, json=body, check=self._check_submit)
        data = payload.get("data")
        job_id = _job_id(data if isinstance(data, dict) else {}, payload)
        if job_id is None:
            raise ProviderBadResponse("ttapi swap answer has no data.jobId / data.job_id")
        return ProviderJob(self.name, job_id, ProviderState.RUNNING)

    def fetch(self, job_id: str) -> ProviderJob:
        if not isinstance(job_id, str) or not job_id.strip():
            raise InvalidRequest("a TTAPI job id is required", field="job_id")
        parsed: list[ProviderJob] = []

        def check(payload: dict) -> None:  # inside the retry loop: a malformed answer is retried
            parsed.append(self._parse(payload, expected_job_id=job_id))

        if self.fetch_method == "POST":
            try:
                self.http.read("POST", PATH_FETCH, json={"jobId": job_id}, check=check)
                return parsed[-1]
            except SwapgateError as error:
                if error.provider_status != 405:
                    raise
                self.fetch_method = "GET"  # the documented alternative; keep using it
        self.http.read("GET", PATH_FETCH, params={"jobId": job_id}, check=check)
        return parsed[-1]

    def parse_webhook(self, body: bytes | str | dict[str, Any]) -> ProviderJob:
        return self._parse(load_body(body, provider=self.name))

    # -- answers --------------------------------------------------------------------------------

    def _check_submit(self, payload: dict) -> None:
        """A swap answer whose ``status`` is not SUCCESS is an error even under HTTP 200."""
        status = payload.get("status")
        if status is None or (isinstance(status, str) and status.upper() == "SUCCESS"):
            return
        message = payload.get("message")
        raise error_for(
            None, self.http.clean(message if isinstance(message, str) else ""), provider=self.name
        )

    def _parse(self, payload: dict, expected_job_id: str | None = None) -> ProviderJob:
        """A fetch answer or a hookUrl callback in the normalised shape."""
        data = payload.get("data")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ProviderBadResponse("ttapi job answer has a data field that is not an object")
        status = payload.get("status")
        state = STATUS_STATES.get(status.upper()) if isinstance(status, str) else None
        if state is None:
            raise ProviderBadResponse(f"ttapi job answer has an unknown status {str(status)[:40]!r}")
        job_id = _job_id(data, payload) or expected_job_id
        if job_id is None:
            raise ProviderBadResponse("ttapi job answer has no jobId")
        cost = int_or_none(data.get("quota"))
        if state is ProviderState.SUCCEEDED:
            result = _http_url(data.get("cdnImage")) or _http_url(data.get("discordImage"))
            if result is None:
                raise ProviderBadResponse("ttapi reports SUCCESS without a cdnImage or discordImage URL")
            return ProviderJob(self.name, job_id, state, result_url=result, cost=cost)
        if state is ProviderState.FAILED:
            raw = payload.get("message") or data.get("message") or ""
            message = self.http.clean(raw if isinstance(raw, str) else "")
            return ProviderJob(
                self.name,
                job_id,
                state,
                cost=cost,
                error_code=message_code(message) or ProviderJobFailed.code,
                error_message=message or "ttapi reports the job failed",
            )
        return ProviderJob(self.name, job_id, state, cost=cost)


def _url(image: ImageInput, field: str) -> str:
    if image.url is None:
        raise InvalidRequest(
            "TTAPI takes image URLs only (jpg, jpeg, png, webp), not bytes: host the image and pass its URL",
            field=field,
        )
    if not image.url.startswith(("http://", "https://")):
        raise InvalidRequest("TTAPI needs an http(s) image URL", field=field)
    return image.url


def _job_id(data: dict, payload: dict) -> str | None:
    for value in (data.get("jobId"), data.get("job_id"), payload.get("jobId"), payload.get("job_id")):
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def _http_url(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) else None
