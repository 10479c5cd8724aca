"""The providers' facts, and lookup: ``get_provider(name) -> Provider``, from configuration.

:data:`PROVIDERS` is the one place a provider's facts live: its name, what it can do, whether it takes
image bytes, where its adapter is, which settings it needs and whether its results are already in our
bucket. The adapters, the API's provider enum, the local stack, the CLI and the docs take them from
here, so callers can ask "which providers support multi-face swap" without a key, a client, or
importing the local engine (adapters are imported on first use).

Keys come from ``swapgate.config.secret`` (the variable itself, or an SSM parameter named by
``<NAME>_PARAM``), base URLs from the environment. Clients are cached per (name, key, base URL), so
their ``requests.Session`` and its open connections live across warm Lambda invocations; a rotated key
or a changed URL gives a new client.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from dataclasses import dataclass

from swapgate import config
from swapgate.errors import InvalidRequest, ProviderNotConfigured
from swapgate.providers.base import Operation, Provider

DEFAULT_PROVIDER = "local"


@dataclass(frozen=True)
class ProviderSpec:
    """What a provider can do, where its adapter lives and where its configuration comes from."""

    name: str
    operations: frozenset[Operation]
    #: whether image bytes can be passed straight to the provider (else the app hosts them as URLs)
    accepts_bytes: bool
    #: whether results arrive by webhook (else only by polling with ``fetch``)
    webhooks: bool
    #: the adapter class, ``"module:Class"``; imported when the provider is first used
    adapter: str
    #: whether its result URLs may be ``s3://`` objects in our own bucket (read from S3, not downloaded)
    results_in_bucket: bool = False
    #: the API key's variable; ``None``: no key needed, the adapter is built without arguments
    key_var: str | None = None
    base_url_var: str | None = None
    default_base_url: str | None = None
    #: the package extra the adapter needs (named when it is missing)
    extra: str | None = None

    @property
    def variables(self) -> tuple[str, ...]:
        """The environment variables it is configured by."""
        return tuple(var for var in (self.key_var, self.base_url_var) if var)


_SPECS = (
    ProviderSpec(
        name="aifaceswap",
        operations=frozenset({Operation.SWAP, Operation.MULTI_SWAP, Operation.EXTRACT_FACES}),
        accepts_bytes=True,
        webhooks=True,
        adapter="swapgate.providers.aifaceswap:AifaceswapProvider",
        key_var="AIFACESWAP_API_KEY",
        base_url_var="AIFACESWAP_BASE_URL",
        default_base_url="https://aifaceswap.io",
    ),
    ProviderSpec(
        name="ttapi",
        operations=frozenset({Operation.SWAP, Operation.FETCH}),
        accepts_bytes=False,
        webhooks=True,
        adapter="swapgate.providers.ttapi:TtapiProvider",
        key_var="TTAPI_API_KEY",
        base_url_var="TTAPI_BASE_URL",
        default_base_url="https://api.ttapi.io",
    ),
    ProviderSpec(
        name="local",
        operations=frozenset(
            {Operation.SWAP, Operation.MULTI_SWAP, Operation.EXTRACT_FACES, Operation.FETCH}
        ),
        accepts_bytes=True,
        webhooks=True,  # it posts its webhook to the callback URL too
        adapter="swapgate.providers.local:LocalProvider",
        results_in_bucket=True,
        extra="local",
    ),
)
#: name -> spec, in the order the API, the CLI and the docs list them
PROVIDERS: dict[str, ProviderSpec] = {spec.name: spec for spec in _SPECS}

_cache: dict[tuple[str, str, str], Provider] = {}
_lock = threading.Lock()


def provider_names() -> tuple[str, ...]:
    return tuple(PROVIDERS)


def provider_spec(name: str) -> ProviderSpec:
    spec = PROVIDERS.get(_normalise(name))
    if spec is None:
        raise _unknown(name)
    return spec


def providers_supporting(operation: Operation | str) -> tuple[str, ...]:
    """Names of the providers that can do ``operation`` (configured or not)."""
    try:
        operation = Operation(operation)
    except ValueError:
        raise InvalidRequest(f"unknown operation {str(operation)[:40]!r}", field="operation") from None
    return tuple(name for name, spec in PROVIDERS.items() if operation in spec.operations)


def results_in_bucket(name: str) -> bool:
    """Whether ``name``'s results are already in our bucket (``False`` for a name no longer known)."""
    spec = PROVIDERS.get(_normalise(name))
    return spec is not None and spec.results_in_bucket


def default_provider_name() -> str:
    return _normalise(config.env("SWAPGATE_PROVIDER", DEFAULT_PROVIDER) or DEFAULT_PROVIDER)


def default_provider() -> Provider:
    return get_provider(None)


def is_configured(name: str) -> bool:
    """Whether ``name`` has what it needs to be built (its API key); never raises for known names."""
    spec = provider_spec(name)
    return spec.key_var is None or bool(config.secret(spec.key_var))


def get_provider(name: str | None = None) -> Provider:
    """The provider client for ``name`` (``None``: ``$SWAPGATE_PROVIDER``, default ``local``).

    Raises :class:`InvalidRequest` (field ``provider``) for an unknown name and
    :class:`ProviderNotConfigured`, naming the variable to set, when its key is missing.
    """
    name = default_provider_name() if name is None else _normalise(name)
    spec = PROVIDERS.get(name)
    if spec is None:
        raise _unknown(name)
    if spec.key_var is None:
        return _cached((name, "", ""), lambda: _build(spec))
    key = config.secret(spec.key_var)
    if not key:
        raise ProviderNotConfigured(
            f"provider {name!r} is not configured: set {spec.key_var} "
            f"(or {spec.key_var}_PARAM, the name of an SSM parameter holding it)"
        )
    base_url = (config.env(spec.base_url_var) if spec.base_url_var else None) or spec.default_base_url or ""
    fingerprint = hashlib.sha256(key.encode()).hexdigest()
    return _cached((name, fingerprint, base_url), lambda: _build(spec, key, base_url))


def clear_cache() -> None:
    """Forget every cached client (closing their sessions). For tests and key rotation."""
    with _lock:
        clients = list(_cache.values())
        _cache.clear()
    for client in clients:
        http = getattr(client, "http", None)
        if http is not None:
            http.close()


def _cached(key: tuple[str, str, str], build) -> Provider:
    with _lock:
        client = _cache.get(key)
        if client is None:
            client = build()
            _cache[key] = client
        return client


def _build(spec: ProviderSpec, *args: str) -> Provider:
    """The adapter of ``spec``, imported now; built from (key, base URL), or from nothing."""
    module_name, _, class_name = spec.adapter.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if spec.extra is None:
            raise
        missing = exc.name or "a dependency"
        raise ProviderNotConfigured(
            f"provider {spec.name!r} is not available: {missing} is not installed "
            f"(install the {spec.extra!r} extra: pip install 'swapgate[{spec.extra}]')"
        ) from exc
    return getattr(module, class_name)(*args)


def _normalise(name: str) -> str:
    return name.strip().lower() if isinstance(name, str) else ""


def _unknown(name: object) -> InvalidRequest:
    return InvalidRequest(
        f"unknown provider {str(name)[:40]!r}; choose one of {', '.join(PROVIDERS)}", field="provider"
    )
