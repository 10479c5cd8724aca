"""The local stack's settings: each default overridable by the environment variable of the same
meaning (the names the functions themselves read, where there is one)."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from swapgate.providers.registry import DEFAULT_PROVIDER, PROVIDERS

from swapgate_dev.local.runtime import DEFAULT_CONCURRENCY

REPO_ROOT = Path(__file__).resolve().parents[3]

DEFAULT_API_PORT = 3000
DEFAULT_AWS_PORT = 4566
DEFAULT_BUCKET = "swapgate-local"
DEFAULT_TABLE = "swapgate-local-jobs"
DEFAULT_API_KEY = "local-dev-key"
# Short poller timing, so a job whose webhook never comes ends within minutes locally.
DEFAULT_POLL_INITIAL_SECONDS = 5
DEFAULT_POLL_INTERVAL_SECONDS = 5
DEFAULT_POLL_MAX_INTERVAL_SECONDS = 15
DEFAULT_JOB_TIMEOUT_SECONDS = 120
# The Secrets Manager secret (in local AWS) made from SWAPGATE_C2PA_PEM_FILE, as an operator makes one
LOCAL_C2PA_SECRET = "swapgate-local/c2pa-signing"

# Dummy credentials for local AWS (moto accepts any).
AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
REGION = "us-east-1"

# Provider settings passed to the functions when the developer sets them (keys and base URLs).
PROVIDER_VARIABLES = tuple(var for spec in PROVIDERS.values() for var in spec.variables)


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value not in (None, "") else None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _get(env, name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {value!r}") from None


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass
class LocalSettings:
    host: str = "127.0.0.1"
    api_port: int = DEFAULT_API_PORT
    aws_port: int = DEFAULT_AWS_PORT
    bucket: str = DEFAULT_BUCKET
    table: str = DEFAULT_TABLE
    api_keys: str = DEFAULT_API_KEY
    provider: str = DEFAULT_PROVIDER
    public_url: str | None = None  # default: the local API URL
    signing_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    webhook_secret: str = field(default_factory=new_webhook_secret, repr=False)
    poll_initial_seconds: int = DEFAULT_POLL_INITIAL_SECONDS
    poll_interval_seconds: int = DEFAULT_POLL_INTERVAL_SECONDS
    poll_max_interval_seconds: int = DEFAULT_POLL_MAX_INTERVAL_SECONDS
    job_timeout_seconds: int = DEFAULT_JOB_TIMEOUT_SECONDS
    concurrency: int = DEFAULT_CONCURRENCY  # environments per function (template reserves none)
    template: Path = REPO_ROOT / "template.yaml"
    providers: dict[str, str] = field(default_factory=dict, repr=False)  # PROVIDER_VARIABLES set
    #: a PEM bundle (certificate chain and private key): results are C2PA-signed with it (None: not signed)
    c2pa_pem_file: Path | None = None
    c2pa_alg: str | None = None  # the key's COSE algorithm (None: the template's default, es256)

    @property
    def api_key(self) -> str:
        """The first client API key (the one the banner shows)."""
        return self.api_keys.split(",")[0].strip()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalSettings:
        env = os.environ if env is None else env
        settings = cls(
            api_port=_int(env, "SWAPGATE_API_PORT", DEFAULT_API_PORT),
            aws_port=_int(env, "SWAPGATE_AWS_PORT", DEFAULT_AWS_PORT),
            bucket=_get(env, "SWAPGATE_BUCKET") or DEFAULT_BUCKET,
            table=_get(env, "SWAPGATE_TABLE") or DEFAULT_TABLE,
            api_keys=_get(env, "SWAPGATE_API_KEYS") or DEFAULT_API_KEY,
            provider=_get(env, "SWAPGATE_PROVIDER") or DEFAULT_PROVIDER,
            public_url=(_get(env, "SWAPGATE_PUBLIC_URL") or "").rstrip("/") or None,
            poll_initial_seconds=_int(env, "SWAPGATE_POLL_INITIAL_SECONDS", DEFAULT_POLL_INITIAL_SECONDS),
            poll_interval_seconds=_int(env, "SWAPGATE_POLL_INTERVAL_SECONDS", DEFAULT_POLL_INTERVAL_SECONDS),
            poll_max_interval_seconds=_int(
                env, "SWAPGATE_POLL_MAX_INTERVAL_SECONDS", DEFAULT_POLL_MAX_INTERVAL_SECONDS
            ),
            job_timeout_seconds=_int(env, "SWAPGATE_JOB_TIMEOUT_SECONDS", DEFAULT_JOB_TIMEOUT_SECONDS),
            concurrency=_int(env, "SWAPGATE_LOCAL_CONCURRENCY", DEFAULT_CONCURRENCY),
            template=Path(_get(env, "SWAPGATE_TEMPLATE") or REPO_ROOT / "template.yaml"),
            providers={name: env[name] for name in PROVIDER_VARIABLES if _get(env, name)},
            c2pa_pem_file=Path(pem) if (pem := _get(env, "SWAPGATE_C2PA_PEM_FILE")) else None,
            c2pa_alg=_get(env, "SWAPGATE_C2PA_ALG"),
        )
        if settings.concurrency < 1:
            raise ValueError("SWAPGATE_LOCAL_CONCURRENCY must be at least 1")
        if _get(env, "SWAPGATE_SIGNING_SECRET"):
            settings.signing_secret = env["SWAPGATE_SIGNING_SECRET"]
        if _get(env, "SWAPGATE_WEBHOOK_SECRET"):
            settings.webhook_secret = env["SWAPGATE_WEBHOOK_SECRET"]
        return settings

    def template_parameters(self) -> dict[str, object]:
        """Template parameter values for the local run (those the template does not declare are unused)."""
        return {
            "Stage": "dev",
            "DefaultProvider": self.provider,
            "PollInitialSeconds": self.poll_initial_seconds,
            "PollIntervalSeconds": self.poll_interval_seconds,
            "PollMaxIntervalSeconds": self.poll_max_interval_seconds,
            "JobTimeoutSeconds": self.job_timeout_seconds,
            # the template's default (empty) unless a PEM file is given: then its secret (``LocalStack``)
            **({"C2paSigningSecret": LOCAL_C2PA_SECRET} if self.c2pa_pem_file else {}),
            **({"C2paSigningAlg": self.c2pa_alg} if self.c2pa_alg else {}),
        }

    def configured_providers(self) -> list[str]:
        """The providers usable in this run: those needing no key first, then those whose key is set."""
        keyless = [name for name, spec in PROVIDERS.items() if spec.key_var is None]
        keyed = [name for name, spec in PROVIDERS.items() if spec.key_var and spec.key_var in self.providers]
        return keyless + keyed
