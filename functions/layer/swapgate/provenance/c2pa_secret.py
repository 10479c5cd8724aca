"""The deployment's C2PA signing credentials: the Secrets Manager secret ``SWAPGATE_C2PA_SECRET_ID`` names
(template parameter ``C2paSigningSecret``), a PEM bundle of the certificate chain and its private key,
signing with ``SWAPGATE_C2PA_ALG`` (es256 unless set).

The secret is read through Powertools parameters (cached for ``CACHE_SECONDS``), imported only where a
secret is configured. A secret that cannot be read now raises SigningUnavailable (retryable: no result
is stored unsigned). A secret that can never sign (not a chain and one key, or a key the C2PA library
refuses) is a configuration error: it is logged once per value and results go out with their XMP mark
only. Nothing here logs the secret's value.
"""

from __future__ import annotations

import functools

from aws_lambda_powertools import Logger

from swapgate import config
from swapgate.errors import SigningUnavailable
from swapgate.provenance import COMPOSITE_TRAINED, c2pa_manifest
from swapgate.provenance.c2pa_manifest import SigningCredentials

NAME_VARIABLE = "SWAPGATE_C2PA_SECRET_ID"  # the name (or ARN) of the secret
ALG_VARIABLE = "SWAPGATE_C2PA_ALG"
DEFAULT_ALG = "es256"
CACHE_SECONDS = 300

logger = Logger(child=True)


def credentials() -> SigningCredentials | None:
    """The credentials to sign results with; None when no secret is configured or it cannot sign.

    Raises SigningUnavailable when the secret cannot be read now (Secrets Manager failing, throttled,
    or the secret missing): trying again later may work.
    """
    name = config.env(NAME_VARIABLE)
    if name is None:
        return None
    from aws_lambda_powertools.utilities import parameters  # only paid for where results are signed

    try:
        bundle = parameters.get_secret(name, max_age=CACHE_SECONDS)
    except parameters.GetParameterError as exc:
        logger.warning("the C2PA signing secret cannot be read", extra={"secret": name, "error": str(exc)})
        raise SigningUnavailable("the C2PA signing secret cannot be read now") from exc
    alg = (config.env(ALG_VARIABLE) or DEFAULT_ALG).lower()
    return _usable(name, bundle if isinstance(bundle, str | bytes) else "", alg)


@functools.lru_cache(maxsize=4)  # per value: a rotated secret is checked (and, if bad, logged) again
def _usable(name: str, bundle: str | bytes, alg: str) -> SigningCredentials | None:
    try:
        found = SigningCredentials.from_pem_bundle(bundle, alg=alg)
    except ValueError as exc:
        reason = str(exc)
    else:
        reason = c2pa_manifest.problem(found, COMPOSITE_TRAINED)
        if reason is None:
            return found
    logger.error(
        "the C2PA signing secret cannot sign: results are stored with their XMP mark only",
        extra={"secret": name, "alg": alg, "reason": reason},
    )
    return None
