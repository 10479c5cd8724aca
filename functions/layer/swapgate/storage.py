"""The deployment's bucket: uploaded inputs, copied results, presigned URLs.

Key layout: ``uploads/`` (client inputs, expire after a day), ``staging/{job_id}/`` (provider results
copied in, not yet tied to a succeeded job; expire after a day), ``results/{job_id}.{ext}`` (the
published result of a succeeded job), ``inbox/`` and ``outbox/`` (the S3 trigger), ``engine/`` (the
local engine's output).

A result reaches ``results/`` in three steps, so that only a succeeded job ever has one there: the
provider's image is staged (:meth:`Storage.stage_result`), the job's conditional move to succeeded
records both keys, then the staged object is published (:meth:`Storage.publish_result`, also done
by the job-events function after every succeeded transition; only the first copy lands).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from swapgate import config, images, provenance
from swapgate.errors import (
    ImageTooLarge,
    InvalidImage,
    ObjectTooLarge,
    ProviderBusy,
    ResultUnavailable,
    ServiceUnavailable,
)
from swapgate.outbound import RequestFailed, download
from swapgate.provenance import c2pa_secret

DEFAULT_MAX_IMAGE_BYTES = 10 * 1024 * 1024
UPLOAD_REFERENCE_PREFIX = "upload://"
PRESIGNED_GET_SECONDS = 3600
#: S3 error codes that mean the named object cannot serve as an image (a 4xx for the caller): 416 is
#: an empty object's answer to a range; 403 a key this function may not read
UNREADABLE_OBJECT = frozenset(
    {"NoSuchKey", "404", "InvalidRange", "416", "AccessDenied", "403", "InvalidObjectState"}
)
PRESIGNED_POST_SECONDS = 900


def max_image_bytes() -> int:
    return int(config.env("SWAPGATE_MAX_IMAGE_BYTES") or DEFAULT_MAX_IMAGE_BYTES)


STAGING_PREFIX = "staging/"
RESULTS_PREFIX = "results/"
UPLOADS_PREFIX = "uploads/"


def result_key(job_id: str, kind: str) -> str:
    return f"{RESULTS_PREFIX}{job_id}.{images.EXTENSIONS[kind]}"


def result_prefix(job_id: str) -> str:
    """Every published result of the job (whatever its extension)."""
    return f"{RESULTS_PREFIX}{job_id}."


def staging_prefix(job_id: str) -> str:
    return f"{STAGING_PREFIX}{job_id}/"


@dataclass(frozen=True)
class StagedResult:
    """A provider's result copied under ``staging/``, and where it is published once the job succeeded."""

    key: str
    result_key: str
    #: the machine-readable marks the staged bytes carry (``provenance.read_marks``' shape), or None
    provenance: dict | None = None


def marking_enabled() -> bool:
    """Results are marked unless the deployment turned it off explicitly (``SWAPGATE_PROVENANCE=off``)."""
    return (config.env("SWAPGATE_PROVENANCE") or "on").lower() not in ("off", "false", "0", "no", "disabled")


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
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in UNREADABLE_OBJECT:  # the caller named it
                raise InvalidImage(f"{field}: object {key!r} cannot be read", field=field) from exc
            # throttled, a 500: the bucket is fine and so is the request; the caller tries again
            raise ServiceUnavailable("the bucket could not be read just now; try again") from exc
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

    def stage_result(self, job_id: str, url: str, *, trusted_s3: bool = False) -> StagedResult:
        """Copy a provider's result image to a new key under ``staging/{job_id}/``.

        ``url`` is an https URL on a public host (checked, redirects re-checked, size-capped,
        content checked by magic bytes), or, for a provider whose results are in this bucket
        (``trusted_s3``), an ``s3://`` URL under ``engine/``. Every call makes its own staging key, so
        racing writers never share one; only the writer whose transition wins gets published. The
        bytes stored carry the IPTC digital source type in their XMP unless marking is turned off,
        and then a C2PA manifest too when the deployment has a signing secret (``_marked``).
        """
        if url.startswith("s3://") and trusted_s3:
            data = self._engine_result(url)
        else:
            data = self._download_image(url)
        kind = images.sniff(data)
        if kind is None:
            raise ResultUnavailable("the provider's result is not a JPEG, PNG or WebP image")
        marks = None
        if marking_enabled():
            data = self._marked(data)
            marks = provenance.read_marks(data)
        extension = images.EXTENSIONS[kind]
        staged = StagedResult(
            f"{staging_prefix(job_id)}{uuid.uuid4().hex}.{extension}", result_key(job_id, kind), marks
        )
        self.s3.put_object(
            Bucket=self.bucket, Key=staged.key, Body=data, ContentType=images.CONTENT_TYPES[kind]
        )
        return staged

    def publish_result(self, staged_key: str, final_key: str) -> bool:
        """Copy the staged result to its final key unless that exists (then the staged copy is removed).

        Idempotent: the copy is conditional (``If-None-Match: *``), so of racing publishers only the
        first lands. Returns False when neither object exists (the staged copy expired unpublished).
        """
        if not self.exists(final_key):
            try:
                self.s3.copy_object(
                    Bucket=self.bucket,
                    Key=final_key,
                    CopySource={"Bucket": self.bucket, "Key": staged_key},
                    IfNoneMatch="*",
                )
            except self.s3.exceptions.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("NoSuchKey", "404"):  # published (and cleaned) by another writer, or lost
                    return self.exists(final_key)
                if code not in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                    raise
        self.delete(staged_key)
        return True

    def clear_staging(self, job_id: str) -> int:
        """Delete whatever is left under ``staging/{job_id}/``; returns how many objects went."""
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=staging_prefix(job_id))
        found = [{"Key": item["Key"]} for item in listing.get("Contents", [])]
        if found:
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": found, "Quiet": True})
        return len(found)

    # --- purge -------------------------------------------------------------------------------

    def remove_everywhere(self, prefix: str, *, exact: bool = False) -> int:
        """Delete every object under ``prefix`` (only ``prefix`` itself when ``exact``), every version
        and delete marker too when the bucket keeps versions; returns how many went."""
        found: list[dict[str, str]] = []
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if not exact or entry["Key"] == prefix:
                    found.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
        for start in range(0, len(found), 1000):
            self.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": found[start : start + 1000], "Quiet": True}
            )
        return len(found)

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    @staticmethod
    def _marked(data: bytes) -> bytes:
        """``data`` with its XMP mark, then signed with C2PA if the deployment signs (mark first: the
        manifest's hash covers the XMP). Raises SigningUnavailable (retryable) rather than let a result
        that should be signed go out unsigned; a secret that can never sign leaves the XMP mark alone."""
        try:
            data = provenance.mark(data)
        except InvalidImage as exc:  # sniffed as an image but malformed inside
            raise ResultUnavailable(f"the provider's result is a damaged image: {exc.message}") from exc
        credentials = c2pa_secret.credentials()
        return data if credentials is None else provenance.sign_c2pa(data, credentials)

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
