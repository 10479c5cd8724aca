"""Request and response models of the v1 API. A request body is JSON or multipart/form-data: Powertools
parses either into the same model (files arrive as ``UploadFile``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import UploadFile
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from swapgate.providers.registry import provider_names

ProviderName = Literal[provider_names()]  # one of the registry's provider names


def _as_list(value: Any) -> Any:
    """Multipart sends one repeated field as a scalar when it appears once; ``"0,2"`` is accepted too."""
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, str) and "," in value:
        return [part.strip() for part in value.strip("[]").split(",") if part.strip()]
    if isinstance(value, str) and value.startswith("["):
        return [part.strip() for part in value.strip("[]").split(",") if part.strip()]
    return [value]


Image = Annotated[
    str | UploadFile,
    Field(description="an https URL, an `upload://` reference from POST /v1/uploads, or a file (multipart)"),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class SwapRequest(StrictModel):
    source_image: Image = Field(description="the picture whose face is replaced")
    face_image: Image = Field(description="the face put in")
    provider: ProviderName | None = None
    webhook: str | None = Field(default=None, description="https URL called when the job ends")


class MultiSwapRequest(StrictModel):
    source_image: Image
    face_images: Annotated[list[Image], BeforeValidator(_as_list), Field(min_length=1, max_length=10)]
    indexes: Annotated[list[int], BeforeValidator(_as_list), Field(min_length=1, max_length=10)]
    provider: ProviderName | None = None
    webhook: str | None = None


class FacesRequest(StrictModel):
    image: Image
    provider: ProviderName | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class JobAccepted(BaseModel):
    id: str
    status: str
    provider: str
    points: int | None = None


class JobView(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "timed_out", "canceled"]
    provider: str
    created_at: str
    updated_at: str
    points: int | None = None
    result_url: str | None = Field(default=None, description="a short-lived presigned URL of the result")
    error: ErrorBody | None = None


class FacesResponse(BaseModel):
    faces: list[list[int]]
    points: int | None = None


class UploadTicket(BaseModel):
    reference: str = Field(description="pass this as source_image / face_image")
    url: str
    fields: dict[str, str]
    expires_in: int
    max_bytes: int
