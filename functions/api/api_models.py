"""Request and response models of the v1 API. A request body is JSON or multipart/form-data: Powertools
parses either into the same model (files arrive as ``UploadFile``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler.openapi.params import UploadFile
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError
from swapgate.providers.registry import canonical_name, provider_names

# One of the registry's provider names; an alias (`local`) is read as the provider it names.
ProviderName = Annotated[Literal[provider_names()], BeforeValidator(canonical_name)]


def _as_list(value: Any) -> Any:
    """Multipart sends one repeated field as a scalar when it appears once; ``"0,2"`` is accepted too."""
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, str) and "," in value:
        return [part.strip() for part in value.strip("[]").split(",") if part.strip()]
    if isinstance(value, str) and value.startswith("["):
        return [part.strip() for part in value.strip("[]").split(",") if part.strip()]
    return [value]


#: the longest URL (image, webhook) a request may give; API Gateway's own limits are far above it
MAX_URL_LENGTH = 2048
#: the longest job id a request may name (ids are ``job_`` and 32 hex digits)
MAX_ID_LENGTH = 64


def _well_formed_url(value: str) -> str:
    """A string urllib can split, with a port that is a number in range; what the URL may point to is
    checked later (``swapgate.netsafety``)."""
    try:
        urlsplit(value).port  # noqa: B018 - reading it is the check
    except ValueError:
        raise PydanticCustomError("url_invalid", "is not a well-formed URL") from None
    return value


# Every string a client gives has a length limit (the OpenAPI document shows it as maxLength). With
# one, pydantic also refuses a lone surrogate ("\ud800" in JSON): text that is not UTF-8, which
# neither DynamoDB nor a provider could take.

#: an image or webhook URL as a client gives it (also ``upload://`` references)
Url = Annotated[str, Field(max_length=MAX_URL_LENGTH), AfterValidator(_well_formed_url)]
#: a job id as a client gives it
JobId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]

Image = Annotated[
    Url | UploadFile,
    Field(description="an https URL, an `upload://` reference from POST /v1/uploads, or a file (multipart)"),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class SwapRequest(StrictModel):
    source_image: Image = Field(description="the picture whose face is replaced")
    face_image: Image = Field(description="the face put in")
    provider: ProviderName | None = None
    webhook: Url | None = Field(default=None, description="https URL called when the job ends")


class MultiSwapRequest(StrictModel):
    source_image: Image
    face_images: Annotated[list[Image], BeforeValidator(_as_list), Field(min_length=1, max_length=10)]
    indexes: Annotated[list[int], BeforeValidator(_as_list), Field(min_length=1, max_length=10)]
    provider: ProviderName | None = None
    webhook: Url | None = None


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


class Provenance(BaseModel):
    digital_source_type: str | None = Field(description="the IPTC Digital Source Type in the result's XMP")
    c2pa: bool = Field(description="whether the result embeds a C2PA manifest")


class JobView(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "timed_out", "canceled"]
    provider: str
    created_at: str
    updated_at: str
    points: int | None = None
    result_url: str | None = Field(default=None, description="a short-lived presigned URL of the result")
    error: ErrorBody | None = None
    provenance: Provenance | None = Field(
        default=None, description="the machine-readable marks the stored result carries"
    )
    data_removed: bool = Field(
        default=False, description="the owner deleted the job's data: only this record is left"
    )
    expires_at: str | None = Field(
        default=None, description="when the job's record and stored data expire (ISO 8601, UTC)"
    )


class FacesResponse(BaseModel):
    faces: list[list[int]]
    points: int | None = None


class UploadTicket(BaseModel):
    reference: str = Field(description="pass this as source_image / face_image")
    url: str
    fields: dict[str, str]
    expires_in: int
    max_bytes: int
