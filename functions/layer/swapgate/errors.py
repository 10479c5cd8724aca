"""Typed errors with stable codes.

Every error that can leave Swapgate carries a stable ``code`` (what clients match on), the HTTP
status the public API answers with, and ``retryable`` (whether trying the same call again later can
succeed). Provider adapters raise these; nothing above them sees a provider's own error shapes.
"""

from __future__ import annotations


class SwapgateError(Exception):
    code = "internal_error"
    status = 500
    retryable = False
    #: the provider's own HTTP status or envelope code, when a provider answer caused this error
    provider_status: int | None = None

    def __init__(
        self,
        message: str = "",
        *,
        field: str | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        self.field = field
        self.retry_after = retry_after
        if code:
            self.code = code
        if status:
            self.status = status

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


# --- client-side input errors (4xx) -----------------------------------------------------------


class InvalidRequest(SwapgateError):
    """The request is not valid."""

    code = "invalid_request"
    status = 400


class InvalidImage(InvalidRequest):
    """The data is not a readable JPEG, PNG or WebP image."""

    code = "invalid_image"
    status = 415


class ImageTooLarge(InvalidRequest):
    """The image is larger than the size limit."""

    code = "image_too_large"
    status = 413


class NoFaceDetected(InvalidRequest):
    """No face was found in the image."""

    code = "no_face_detected"
    status = 422


class FaceIndexOutOfRange(InvalidRequest):
    """A face index does not name a face in the source image."""

    code = "face_index_out_of_range"
    status = 422


class OperationNotSupported(SwapgateError):
    """The provider cannot do this operation."""

    code = "operation_not_supported"
    status = 422


class NotFound(SwapgateError):
    """No such resource."""

    code = "not_found"
    status = 404


class Unauthorized(SwapgateError):
    """A valid API key is required."""

    code = "unauthorized"
    status = 401


class RateLimited(SwapgateError):
    """Too many requests for this API key."""

    code = "rate_limited"
    status = 429
    retryable = True


# --- provider errors ----------------------------------------------------------------------------


class ProviderError(SwapgateError):
    """The face-swap provider failed."""

    code = "provider_error"
    status = 502


class ProviderNotConfigured(ProviderError):
    """The provider has no API key configured."""

    code = "provider_not_configured"
    status = 503


class ProviderAuthFailed(ProviderError):
    """The provider rejected the API key."""

    code = "provider_auth_failed"
    status = 502


class ProviderAccountBlocked(ProviderError):
    """The provider account is blocked."""

    code = "provider_account_blocked"
    status = 502


class ProviderQuotaExhausted(ProviderError):
    """The provider account has no quota or balance left."""

    code = "provider_quota_exhausted"
    status = 402


class ProviderRateLimited(ProviderError):
    """The provider is rate limiting requests."""

    code = "provider_rate_limited"
    status = 429
    retryable = True


class ProviderBusy(ProviderError):
    """The provider is busy or unreachable; try again later."""

    code = "provider_busy"
    status = 503
    retryable = True


class ProviderAnswerUnknown(ProviderBusy):
    """The request reached the provider but its answer never came (read timeout, connection lost):
    it may have accepted, and charged for, the job."""


class ProviderInvalidInput(ProviderError):
    """The provider rejected the input."""

    code = "provider_invalid_input"
    status = 400


class ProviderJobNotFound(ProviderError):
    """The provider does not know this job."""

    code = "provider_job_not_found"
    status = 404


class ProviderJobFailed(ProviderError):
    """The provider reports that the job failed."""

    code = "provider_job_failed"
    status = 502


class ProviderBadResponse(ProviderError):
    """The provider answered with something that is not its documented shape."""

    code = "provider_bad_response"
    status = 502
    retryable = True


class ResultUnavailable(ProviderError):
    """The provider's result cannot be copied: it is missing, refused, or not an image."""

    code = "result_copy_failed"
    status = 502


# --- configuration and the inbox ----------------------------------------------------------------


class NotConfigured(SwapgateError):
    """The deployment lacks a setting this operation needs."""

    code = "not_configured"
    status = 503


class ServiceUnavailable(SwapgateError):
    """Swapgate could not start the job right now (nothing was created); try again."""

    code = "service_unavailable"
    status = 503
    retryable = True


class MissingSecret(NotConfigured):
    """A signing secret is not configured."""


class SigningUnavailable(SwapgateError):
    """The result could not be signed right now (its C2PA signing secret unreadable, or signing failed);
    it is stored only once signed, so the copy is tried again later."""

    code = "signing_unavailable"
    status = 503
    retryable = True


class BatchInProgress(SwapgateError):
    """Another trigger is starting this manifest's jobs right now; the event is tried again later."""

    code = "batch_in_progress"
    status = 409
    retryable = True


# --- client webhooks ----------------------------------------------------------------------------


class DeliveryFailed(SwapgateError):
    """The webhook receiver did not accept the delivery; it is tried again later."""

    code = "webhook_delivery_failed"
    status = 502
    retryable = True


class DeliveryRefused(SwapgateError):
    """The webhook URL is not an acceptable target (any more); the delivery is dropped."""

    code = "webhook_refused"
    status = 400
    retryable = False


# --- inside the layer: caught and turned into the errors above where they happen --------------


class JobNotFound(Exception):
    """The jobs table has no job with this id (the message is the id)."""


class RequestFailed(Exception):
    """An outbound request gave no usable answer: ``reason`` completes "the <what> ...";
    ``retryable`` says whether trying later may work (no answer, a timeout, a 5xx)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class ResponseTooLarge(RequestFailed):
    """The answer's body is larger than the caller's ``max_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"is larger than {limit} bytes", retryable=False)
        self.limit = limit


class HostNotFound(Exception):
    """The host name does not resolve (now: DNS can recover)."""


def field_problem(kind: str, field: str, detail: str) -> str:
    """The message for one pydantic validation error (``kind`` is its ``type``) on ``field``."""
    if kind == "missing":
        return f"{field} is required"
    if kind == "extra_forbidden":
        return f"{field} is not an accepted field"
    return f"{field}: {detail or 'invalid value'}"


class ObjectTooLarge(Exception):
    """An object holds more bytes than its reader accepts."""
