"""The deployment's bucket: uploaded inputs, copied results, presigned URLs.

Key layout: ``uploads/`` (client inputs, expire after a day), ``results/{job_id}.{ext}`` (copies of
provider results), ``inbox/`` and ``outbox/`` (the S3 trigger), ``engine/`` (the local engine's output).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from swapgate import config, images
from swapgate.errors import (
    ImageTooLarge,
    InvalidImage,
    ObjectTooLarge,
    ProviderBusy,
    ResultUnavailable,
)
from swapgate.outbound import RequestFailed, download

DEFAULT_MAX_IMAGE_BYTES = 10 * 1024 * 1024
UPLOAD_REFERENCE_PREFIX = "upload://"
PRESIGNED_GET_SECONDS = 3600
PRESIGNED_POST_SECONDS = 900


def max_image_bytes() -> int:
    return int(config.env("SWAPGATE_MAX_IMAGE_BYTES") or DEFAULT_MAX_IMAGE_BYTES)


def result_key(job_id: str, kind: str) -> str:
    return f"results/{job_id}.{images.EXTENSIONS[kind]}"


@dataclass
class Storage:
    bucket: str
    s3: Any

    @classmethod
    def from_env(cls) -> Storage:
        import boto3

        return cls(bucket=config.env("SWAPGATE_BUCKET") or "", s3=boto3.client("s3"))

    # --- inputs -------------------------------------------------------------------------------

    def put_upload(self, data: bytes, field: str) -> str:
        """Store client image bytes under ``uploads/`` and return the key."""
        if len(data) > max_image_bytes():
            raise ImageTooLarge(f"{field} is larger than {max_image_bytes()} bytes", field=field)
        kind = images.require_image(data, field)
        key = f"uploads/{uuid.uuid4().hex}.{images.EXTENSIONS[kind]}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=images.CONTENT_TYPES[kind])
        return key

    def presigned_upload(self) -> dict:
        """A presigned POST for one image under ``uploads/``, and the reference to pass to the API."""
        upload_id = uuid.uuid4().hex
        key = f"uploads/{upload_id}"
        post = self.s3.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Conditions=[
                ["content-length-range", 1, max_image_bytes()],
                ["starts-with", "$Content-Type", "image/"],
            ],
            ExpiresIn=PRESIGNED_POST_SECONDS,
        )
        return {
            "reference": UPLOAD_REFERENCE_PREFIX + upload_id,
            "url": post["url"],
            "fields": post["fields"],
            "expires_in": PRESIGNED_POST_SECONDS,
            "max_bytes": max_image_bytes(),
        }

    def upload_key_for_reference(self, reference: str, field: str) -> str:
        """The key behind an ``upload://`` reference, checked to exist and to be an image."""
        upload_id = reference[len(UPLOAD_REFERENCE_PREFIX) :]
        if not upload_id or not upload_id.isalnum():
            raise InvalidImage(f"{field} is not a valid upload reference", field=field)
        key = f"uploads/{upload_id}"
        self.require_image_object(key, field)
        return key

    def require_image_object(self, key: str, field: str) -> str:
        """Check that ``key`` exists and holds an image (by its first bytes); return the image type."""
        try:
            head = self.s3.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-15")["Body"].read()
        except self.s3.exceptions.NoSuchKey as exc:
            raise InvalidImage(f"{field}: no object {key!r} in the bucket", field=field) from exc
        except Exception as exc:  # botocore ClientError for 404/416 on empty objects
            raise InvalidImage(f"{field}: object {key!r} cannot be read", field=field) from exc
        return images.require_image(head, field)

    def presigned_get(self, key: str, expires: int = PRESIGNED_GET_SECONDS) -> str:
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
        )

    def get_bytes(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def read_object(self, key: str, *, etag: str | None = None, max_bytes: int | None = None) -> bytes | None:
        """The object's bytes; None when it is gone or (with ``etag``) no longer that version.

        Raises ObjectTooLarge when it holds more than ``max_bytes`` (only that much is read).
        """
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if etag:
            arguments["IfMatch"] = '"' + etag.strip('"') + '"'
        try:
            response = self.s3.get_object(**arguments)
        except self.s3.exceptions.NoSuchKey:
            return None
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                return None
            raise
        with response["Body"] as body:
            data = body.read() if max_bytes is None else body.read(max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:
            raise ObjectTooLarge(f"{key} is larger than {max_bytes} bytes")
        return data

    def put_json(self, key: str, body: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode(), ContentType="application/json")

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    # --- results ------------------------------------------------------------------------------

    def copy_result_to_s3(self, job_id: str, url: str, *, trusted_s3: bool = False) -> str:
        """Copy a provider's result image into ``results/{job_id}.{ext}`` and return the key.

        ``url`` is an https URL on a public host (checked, redirects re-checked, size-capped,
        content checked by magic bytes), or, for the built-in engine only (``trusted_s3``), an
        ``s3://`` URL under ``engine/`` in this bucket. The key depends only on the job and the image
        type, and the write is conditional (``If-None-Match: *``): a duplicate webhook or the poller
        racing the webhook never makes a second result object or a second version of it.
        """
        if url.startswith("s3://") and trusted_s3:
            data = self._engine_result(url)
        else:
            data = self._download_image(url)
        kind = images.sniff(data)
        if kind is None:
            raise ResultUnavailable("the provider's result is not a JPEG, PNG or WebP image")
        key = result_key(job_id, kind)
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=images.CONTENT_TYPES[kind],
                IfNoneMatch="*",
            )
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                raise
            # another writer stored this job's result first: it is the same image
        return key

    def _engine_result(self, url: str) -> bytes:
        parts = urlsplit(url)
        source_key = parts.path.lstrip("/")
        if parts.netloc != self.bucket or not source_key.startswith("engine/"):
            raise ResultUnavailable("the engine's result must be under engine/ in this bucket")
        return self.get_bytes(source_key)

    def _download_image(self, url: str) -> bytes:
        what = "the provider's result"
        try:
            return download(url, field="result_image", what=what, limit=max_image_bytes())
        except RequestFailed as exc:
            error = ProviderBusy if exc.retryable else ResultUnavailable
            raise error(f"{what} {exc.reason}") from exc
