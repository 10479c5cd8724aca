"""The aifaceswap.io adapter (``https://aifaceswap.io/api/aifaceswap/v1/``).

* Auth: ``Authorization: Bearer <key>``.
* ``faceswap`` (``source_image``, ``face_image``, ``webhook``), ``extract_face`` (``img``),
  ``multi_faceswap`` (``source_image``, ``face_image`` list, ``index`` list, ``webhook``).
* When every image is a URL the body is JSON (the API page's "Method1"). When any image is bytes the
  body is multipart ("Method2"): bytes go as file parts, the other fields as form fields (``index``
  as repeated fields, the way ``requests`` sends ``data={"index": [0, 2]}``). Mixed inputs: the API
  types each image field "string or file", so an image given as a URL in a multipart call goes as a
  text part of the same name. For ``multi_faceswap`` the face images must be all URLs or all bytes
  (a server is not bound to keep the order between text and file parts, and the order pairs faces
  with indexes); a mix there is refused with :class:`~swapgate.errors.InvalidRequest`. (The app layer
  normally hosts bytes in S3 and passes URLs only.)
* Every answer is an envelope ``{code, data, message}``; ``code != 200`` is an error even under
  HTTP 200, mapped through the same table as HTTP statuses (see :mod:`swapgate.providers.http`).
* No status endpoint is documented: ``fetch`` is not supported; results come by webhook
  ``{success, type, task_id, result_image}``.
* ``extract_face`` is charged (points), so it is a submit: never retried once sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from swapgate.errors import (
    InvalidRequest,
    ProviderBadResponse,
    ProviderJobFailed,
)
from swapgate.providers.base import (
    FaceBoxes,
    ImageInput,
    Provider,
    ProviderJob,
    ProviderState,
    check_indexes,
)
from swapgate.providers.http import ProviderHttp, int_or_none, load_body
from swapgate.providers.http_errors import error_for, message_code
from swapgate.providers.registry import PROVIDERS

API_PREFIX = "/api/aifaceswap/v1"
PATH_FACESWAP = f"{API_PREFIX}/faceswap"
PATH_EXTRACT_FACE = f"{API_PREFIX}/extract_face"
PATH_MULTI_FACESWAP = f"{API_PREFIX}/multi_faceswap"


class AifaceswapProvider(Provider):
    spec = PROVIDERS["aifaceswap"]

    def __init__(self, api_key: str, base_url: str | None = None, **http_options: Any) -> None:
        if not api_key:
            raise ValueError("an aifaceswap API key is required")
        self.http = ProviderHttp(
            base_url or self.spec.default_base_url,
            {"Authorization": f"Bearer {api_key}"},
            provider=self.name,
            **http_options,
        )

    def __repr__(self) -> str:
        return f"AifaceswapProvider(base_url={self.http.base_url!r}, api_key=<hidden>)"

    # -- operations -----------------------------------------------------------------------------

    def swap(self, source: ImageInput, face: ImageInput, webhook_url: str | None = None) -> ProviderJob:
        if source.url is not None and face.url is not None:
            body: dict[str, Any] = {"source_image": source.url, "face_image": face.url}
            if webhook_url:
                body["webhook"] = webhook_url
            payload = self.http.submit(PATH_FACESWAP, json=body, check=self._check)
        else:
            parts = [_part("source_image", source), _part("face_image", face)]
            form = [("webhook", webhook_url)] if webhook_url else []
            payload = self.http.submit(PATH_FACESWAP, data=form, files=parts, check=self._check)
        return self._job(payload)

    def multi_swap(
        self,
        source: ImageInput,
        faces: Sequence[ImageInput],
        indexes: Sequence[int],
        webhook_url: str | None = None,
    ) -> ProviderJob:
        faces = list(faces)
        indexes = check_indexes(indexes, len(faces))
        face_urls = {face.url is not None for face in faces}
        if len(face_urls) > 1:
            raise InvalidRequest(
                "aifaceswap multi-face swap takes the face images all as URLs or all as files, not a mix",
                field="faces",
            )
        if source.url is not None and face_urls == {True}:
            body: dict[str, Any] = {
                "source_image": source.url,
                "face_image": [face.url for face in faces],
                "index": indexes,
            }
            if webhook_url:
                body["webhook"] = webhook_url
            payload = self.http.submit(PATH_MULTI_FACESWAP, json=body, check=self._check)
        else:
            parts = [_part("source_image", source)] + [_part("face_image", face) for face in faces]
            form = [("webhook", webhook_url)] if webhook_url else []
            form += [("index", str(index)) for index in indexes]
            payload = self.http.submit(PATH_MULTI_FACESWAP, data=form, files=parts, check=self._check)
        return self._job(payload)

    def extract_faces(self, image: ImageInput) -> FaceBoxes:
        if image.url is not None:
            payload = self.http.submit(PATH_EXTRACT_FACE, json={"img": image.url}, check=self._check)
        else:
            payload = self.http.submit(PATH_EXTRACT_FACE, files=[_part("img", image)], check=self._check)
        data = payload.get("data")
        faces = data.get("faces") if isinstance(data, dict) else None
        if not isinstance(faces, list) or not all(_is_box(box) for box in faces):
            raise ProviderBadResponse("aifaceswap extract_face answer has no valid data.faces list")
        return FaceBoxes(faces=[[int(v) for v in box] for box in faces], cost=int_or_none(data.get("points")))

    def parse_webhook(self, body: bytes | str | dict[str, Any]) -> ProviderJob:
        payload = load_body(body, provider=self.name, form_ok=True)
        task_id = payload.get("task_id")
        if not isinstance(task_id, str | int) or isinstance(task_id, bool) or not str(task_id):
            raise ProviderBadResponse("aifaceswap webhook has no task_id")
        success = payload.get("success")
        if success in (1, "1", True):
            result = payload.get("result_image")
            if not isinstance(result, str) or not result.startswith(("http://", "https://")):
                raise ProviderBadResponse("aifaceswap webhook reports success without a result_image URL")
            return ProviderJob(self.name, str(task_id), ProviderState.SUCCEEDED, result_url=result)
        if success in (0, "0", False):
            message = self.http.clean(payload.get("message") or payload.get("msg") or "")
            return ProviderJob(
                self.name,
                str(task_id),
                ProviderState.FAILED,
                error_code=message_code(message) or ProviderJobFailed.code,
                error_message=message or "aifaceswap reports the job failed",
            )
        raise ProviderBadResponse("aifaceswap webhook has no valid success flag")

    # -- answers --------------------------------------------------------------------------------

    def _check(self, payload: dict) -> None:
        """The envelope check: ``code`` must be 200 even when the HTTP status was."""
        code = payload.get("code")
        if isinstance(code, str) and code.strip().lstrip("-").isdigit():
            code = int(code)
        if not isinstance(code, int) or isinstance(code, bool):
            raise ProviderBadResponse("aifaceswap answer has no envelope code")
        if code != 200:
            message = payload.get("message")
            raise error_for(
                code,
                self.http.clean(message if isinstance(message, str) else ""),
                provider=self.name,
                label="code",
            )

    def _job(self, payload: dict) -> ProviderJob:
        data = payload.get("data")
        task_id = data.get("task_id") if isinstance(data, dict) else None
        if isinstance(task_id, bool) or not isinstance(task_id, str | int) or not str(task_id):
            raise ProviderBadResponse("aifaceswap answer has no data.task_id")
        return ProviderJob(
            self.name, str(task_id), ProviderState.RUNNING, cost=int_or_none(data.get("points"))
        )


# --- helpers -----------------------------------------------------------------------------------


def _part(name: str, image: ImageInput) -> tuple[str, tuple[str | None, Any, str | None]]:
    """One multipart part: a file part for bytes, a text part (no filename) for a URL."""
    if image.url is not None:
        return (name, (None, image.url, None))
    return (name, (image.filename, image.data or b"", image.content_type))


def _is_box(box: Any) -> bool:
    return (
        isinstance(box, list)
        and len(box) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
    )
