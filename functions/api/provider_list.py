"""``GET /v1/providers``: every provider Swapgate knows, what it can do, and whether this deployment
has what it needs to use it (its key), from the registry, the one source of provider facts."""

from __future__ import annotations

from pydantic import BaseModel, Field
from swapgate.providers.base import Operation
from swapgate.providers.registry import PROVIDERS, default_provider_name, is_configured


class ProviderInfo(BaseModel):
    name: str
    operations: list[str] = Field(
        description="`swap`, `multi_swap`, `extract_faces` (POST /v1/faces); `fetch`: jobs are also polled"
    )
    configured: bool = Field(description="whether this deployment has its settings (its API key)")
    default: bool = Field(description="used when a request names no provider")


class ProviderList(BaseModel):
    providers: list[ProviderInfo]
    default: str


def provider_list() -> ProviderList:
    default = default_provider_name()
    return ProviderList(
        providers=[
            ProviderInfo(
                name=name,
                operations=[op.value for op in Operation if op in spec.operations],
                configured=is_configured(name),
                default=name == default,
            )
            for name, spec in PROVIDERS.items()
        ],
        default=default,
    )
