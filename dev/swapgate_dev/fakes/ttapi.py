"""A loopback fake of TTAPI SwapFace (``/insightFace/v1/...``), as its API page and FACTS.md describe.

- ``TT-API-KEY: <key>``; errors answer ``{"status": "FAILED", "message": ..., "data": null}``.
- ``POST /insightFace/v1/swap``: JSON ``targetImage``, ``swapImage`` (URLs), optional ``hookUrl``;
  answers ``{"status": "SUCCESS", "message": "", "data": {"jobId": "SWAP-FACE-..."}}``.
- ``POST /insightFace/v1/fetch`` (JSON ``jobId``) or ``GET`` (query ``jobId``): the same body as the
  ``hookUrl`` callback, with ``status`` PENDING_QUEUE -> ON_QUEUE -> SUCCESS | FAILED.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from swapgate_dev.fakes.core import BadRequest, FakeProvider, Job, RecordedRequest, Response, is_http_url

SWAP = "/insightFace/v1/swap"
FETCH = "/insightFace/v1/fetch"
QUOTA = 2
STATUS = {"queued": "PENDING_QUEUE", "running": "ON_QUEUE", "succeeded": "SUCCESS", "failed": "FAILED"}


class FakeTtapi(FakeProvider):
    """Fake TTAPI SwapFace. ``job_id_key``: ``"jobId"`` (the API page) or ``"job_id"`` (newer docs),
    the key of the job id in the swap answer. ``job_failed`` takes ``quota`` (default 0)."""

    name = "ttapi"
    routes = {SWAP: frozenset({"POST"}), FETCH: frozenset({"POST", "GET"})}
    malformed_body = b'{"status": "SUCCESS", "data": {"jobId": '

    def __init__(self, *args: Any, job_id_key: str = "jobId", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if job_id_key not in ("jobId", "job_id"):
            raise ValueError("job_id_key is 'jobId' or 'job_id'")
        self.job_id_key = job_id_key

    # --- hooks -----------------------------------------------------------------------------------

    def check_auth(self, req: RecordedRequest) -> bool:
        given = req.headers.get("TT-API-KEY", "")
        return secrets.compare_digest(given.encode(), self.api_key.encode())

    def error_response(self, status: int, message: str) -> Response:
        return Response.json(status, {"status": "FAILED", "message": message, "data": None})

    def handle(self, req: RecordedRequest) -> Response:
        if req.path == SWAP:
            return self._swap(req)
        if req.method == "GET":
            if req.body:
                raise BadRequest("GET fetch takes the jobId in the query, not a body")
            params = req.query
            if set(params) != {"jobId"} or len(params["jobId"]) != 1:
                raise BadRequest("fetch needs exactly one query parameter jobId")
            job_id = params["jobId"][0]
        else:
            body = self._json_object(req)
            if set(body) != {"jobId"} or not isinstance(body["jobId"], str):
                raise BadRequest("fetch needs a JSON body with jobId (string) and nothing else")
            job_id = body["jobId"]
        job = self.jobs.get(job_id)
        if job is None:
            raise BadRequest(f"job {job_id!r} not found", status=404)
        return Response.json(200, self.webhook_body(job))

    def result_urls(self, job: Job) -> dict[str, str]:
        n = self.next_number()
        channel, message = 1225427359679909939 + n, 1232142735067054162 + n * 7919
        name = f"/attachments/{channel}/{message}/{secrets.token_hex(16)}_ins.png?{self.cdn_query()}"
        return {"cdnImage": self.url("/mjcdn" + name), "discordImage": self.url("/discord" + name)}

    def webhook_body(self, job: Job) -> dict[str, Any]:
        """The fetch / hookUrl body at this moment."""
        state = job.state
        ok = state == "succeeded"
        body: dict[str, Any] = {"status": STATUS[state], "jobId": job.id}
        if state == "failed":
            body["message"] = job.message
        body["data"] = {
            "jobId": job.id,
            "targetImage": job.inputs["targetImage"],
            "swapImage": job.inputs["swapImage"],
            "discordImage": job.result_urls["discordImage"] if ok else None,
            "cdnImage": job.result_urls["cdnImage"] if ok else None,
            "hookUrl": job.webhook,
            "quota": job.extra.get("quota", 0) if state == "failed" else job.cost,
        }
        return body

    # --- requests --------------------------------------------------------------------------------

    @staticmethod
    def _json_object(req: RecordedRequest) -> dict[str, Any]:
        if req.kind != "json":
            raise BadRequest("Content-Type must be application/json")
        if req.body_error:
            raise BadRequest(req.body_error)
        if not isinstance(req.json, dict):
            raise BadRequest("the JSON body must be an object")
        return req.json

    def _swap(self, req: RecordedRequest) -> Response:
        body = self._json_object(req)
        unknown = sorted(set(body) - {"targetImage", "swapImage", "hookUrl"})
        if unknown:
            raise BadRequest(f"unknown parameter(s): {', '.join(unknown)}")
        for name in ("targetImage", "swapImage"):
            if name not in body:
                raise BadRequest(f"{name} is required")
            if not is_http_url(body[name]):
                raise BadRequest(f"{name} must be an image URL (jpg, jpeg, png, webp)")
        hook = body.get("hookUrl")
        if "hookUrl" in body and not is_http_url(hook):
            raise BadRequest("hookUrl must be an http(s) URL")
        job_id = f"SWAP-FACE-{int(time.time() * 1000)}{self.next_number() % 100000:05d}"
        inputs = {"targetImage": body["targetImage"], "swapImage": body["swapImage"]}
        job = self.new_job(req, job_id, "swap", inputs, hook, QUOTA)
        return Response.json(200, {"status": "SUCCESS", "message": "", "data": {self.job_id_key: job.id}})
