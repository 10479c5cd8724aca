"""A loopback fake of aifaceswap.io (``/api/aifaceswap/v1/...``), as its API page and FACTS.md describe.

- ``Authorization: Bearer <key>``; every answer is the ``{"code", "data", "message"}`` envelope.
- ``faceswap``: ``source_image``, ``face_image`` (URL in JSON, or file / URL parts in multipart),
  optional ``webhook``. ``extract_face``: ``img``; answers the face boxes at once.
  ``multi_faceswap``: ``source_image``, ``face_image`` (JSON list, or repeated parts), ``index``
  (JSON list, or repeated form fields), optional ``webhook``.
- No status endpoint: results arrive only by webhook ``{"success", "type", "task_id", "result_image"}``.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from swapgate_dev.fakes.core import BadRequest, FakeProvider, Injection, Job, RecordedRequest, Response
from swapgate_dev.fakes.core import is_http_url as _is_url
from swapgate_dev.fakes.media import FilePart, sniff_image

PREFIX = "/api/aifaceswap/v1"
FACESWAP = f"{PREFIX}/faceswap"
EXTRACT_FACE = f"{PREFIX}/extract_face"
MULTI_FACESWAP = f"{PREFIX}/multi_faceswap"

#: the boxes the API page shows for its extract_face example
DEFAULT_FACES = [[146, 256, 240, 381], [297, 521, 371, 621], [441, 208, 529, 332]]
POINTS = {FACESWAP: 2, EXTRACT_FACE: 2, MULTI_FACESWAP: 5}

Value = Any  # a JSON value, a form text value or a FilePart


class FakeAifaceswap(FakeProvider):
    """Fake aifaceswap.io. ``faces``: the boxes ``extract_face`` answers (and the valid indexes of
    ``multi_faceswap``). Request faults ``quota`` and ``envelope_error`` answer HTTP 200 with an
    envelope ``code`` other than 200 (params ``code``, ``message``)."""

    name = "aifaceswap"
    routes = {
        FACESWAP: frozenset({"POST"}),
        EXTRACT_FACE: frozenset({"POST"}),
        MULTI_FACESWAP: frozenset({"POST"}),
    }
    malformed_body = b'{"code": 200, "data": {"task_id": '
    quota_code = 1002  # envelope code of "Insufficient points" (the real value is undocumented)

    def __init__(self, *args: Any, faces: list[list[int]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.faces = [list(box) for box in (DEFAULT_FACES if faces is None else faces)]

    # --- hooks -----------------------------------------------------------------------------------

    def check_auth(self, req: RecordedRequest) -> bool:
        given = req.headers.get("Authorization", "")
        return secrets.compare_digest(given.encode(), f"Bearer {self.api_key}".encode())

    def error_response(self, status: int, message: str, code: int | None = None) -> Response:
        envelope = {"code": status if code is None else code, "data": None, "message": message}
        return Response.json(status, envelope)

    def fault_response(self, inj: Injection) -> Response:
        if inj.kind == "quota":
            code = inj.params.get("code", self.quota_code)
            return self.error_response(200, inj.params.get("message", "Insufficient points"), code)
        if inj.kind == "envelope_error":
            code = inj.params.get("code", 500)
            return self.error_response(200, inj.params.get("message", "Internal error"), code)
        return super().fault_response(inj)

    def handle(self, req: RecordedRequest) -> Response:
        if req.path == EXTRACT_FACE:
            fields = self._fields(req, {"img"})
            self._image(fields, "img")
            return self._ok({"faces": [list(box) for box in self.faces], "points": POINTS[EXTRACT_FACE]})
        if req.path == FACESWAP:
            fields = self._fields(req, {"source_image", "face_image", "webhook"})
            inputs = {"source_image": self._image(fields, "source_image")}
            inputs["face_image"] = self._image(fields, "face_image")
            kind = "faceswap"
        else:
            fields = self._fields(req, {"source_image", "face_image", "index", "webhook"})
            inputs = {"source_image": self._image(fields, "source_image")}
            inputs["face_image"], inputs["index"] = self._faces_and_index(req, fields)
            kind = "multi_faceswap"
        webhook = self._webhook(fields)
        job = self.new_job(req, uuid.uuid4().hex, kind, inputs, webhook, POINTS[req.path])
        if kind == "multi_faceswap":  # the API page shows the keys in this order for multi
            return self._ok({"points": job.cost, "task_id": job.id})
        return self._ok({"task_id": job.id, "points": job.cost})

    def result_urls(self, job: Job) -> dict[str, str]:
        return {"result_image": self.url(f"/aifaceswap/result/{job.id}.png?{self.cdn_query()}")}

    def webhook_body(self, job: Job) -> dict[str, Any]:
        ok = job.state == "succeeded"
        return {
            "success": 1 if ok else 0,
            "type": 2 if job.kind == "multi_faceswap" else 1,
            "task_id": job.id,
            "result_image": job.result_urls["result_image"] if ok else "",
        }

    # --- request checks --------------------------------------------------------------------------

    @staticmethod
    def _ok(data: dict[str, Any]) -> Response:
        return Response.json(200, {"code": 200, "data": data, "message": "OK"})

    @staticmethod
    def _fields(req: RecordedRequest, allowed: set[str]) -> dict[str, list[Value]]:
        """Field name -> values. JSON: one value per key. Multipart: every text and file part."""
        if req.body_error:
            raise BadRequest(req.body_error)
        if req.kind == "json":
            if not isinstance(req.json, dict):
                raise BadRequest("the JSON body must be an object")
            fields: dict[str, list[Value]] = {k: [v] for k, v in req.json.items()}
        elif req.kind == "multipart":
            fields = {k: list(v) for k, v in req.form.items()}
            for part in req.files:
                fields.setdefault(part.field, []).append(part)
        else:
            raise BadRequest("Content-Type must be application/json or multipart/form-data")
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise BadRequest(f"unknown parameter(s): {', '.join(unknown)}")
        return fields

    @staticmethod
    def _check_image(name: str, value: Value) -> str | FilePart:
        if isinstance(value, FilePart):
            if sniff_image(value.data) is None:
                raise BadRequest(f"{name}: the file is not a JPEG, PNG or WebP image")
            return value
        if _is_url(value):
            return value
        raise BadRequest(f"{name} must be an image URL or an image file")

    def _image(self, fields: dict[str, list[Value]], name: str) -> str | FilePart:
        values = fields.get(name)
        if not values:
            raise BadRequest(f"{name} is required")
        if len(values) != 1:
            raise BadRequest(f"{name} must be given once")
        return self._check_image(name, values[0])

    @staticmethod
    def _webhook(fields: dict[str, list[Value]]) -> str | None:
        values = fields.get("webhook")
        if values is None:
            return None
        if len(values) != 1 or not _is_url(values[0]):
            raise BadRequest("webhook must be one http(s) URL")
        return values[0]

    def _faces_and_index(
        self, req: RecordedRequest, fields: dict[str, list[Value]]
    ) -> tuple[list[str | FilePart], list[int]]:
        if "face_image" not in fields or "index" not in fields:
            raise BadRequest("face_image and index are required")
        if req.kind == "json":
            faces, index = fields["face_image"][0], fields["index"][0]
            if not isinstance(faces, list) or not isinstance(index, list):
                raise BadRequest("face_image and index must be lists")
            if not all(isinstance(i, int) and not isinstance(i, bool) for i in index):
                raise BadRequest("index must be a list of integers")
        else:
            faces = fields["face_image"]
            if not all(isinstance(v, str) and re.fullmatch(r"[0-9]+", v) for v in fields["index"]):
                raise BadRequest("index must be integers (one form field per face)")
            index = [int(v) for v in fields["index"]]
        if not faces:
            raise BadRequest("face_image must not be empty")
        checked = [self._check_image("face_image", face) for face in faces]
        if len(index) != len(checked):
            raise BadRequest(f"{len(checked)} face_image but {len(index)} index values")
        if len(set(index)) != len(index):
            raise BadRequest("index values must be distinct")
        if any(i < 0 or i >= len(self.faces) for i in index):
            raise BadRequest(f"face index out of range: the image has {len(self.faces)} faces")
        return checked, index
