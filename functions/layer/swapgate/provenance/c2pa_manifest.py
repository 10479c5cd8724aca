"""A signed C2PA manifest stating that Swapgate edited an image with a trained model.

Imports ``c2pa`` (the ``c2pa-python`` package: a 23 MB native library, so a Lambda layer of its own)
only when signing, so reading the credentials needs nothing beyond the standard library.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass

from swapgate.errors import SigningUnavailable
from swapgate.images import CONTENT_TYPES

CLAIM_GENERATOR = "swapgate"
# No thumbnails: they would re-encode the swapped face into the manifest (bigger file, more personal data)
_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}
_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)
# A 1x1 grey PNG: credentials that cannot sign it cannot sign anything (see ``problem``)
_PROBE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True, repr=False)
class SigningCredentials:
    """An end-entity certificate chain (signer first, root CA left out) and its private key, in PEM.

    ``alg`` is the COSE algorithm the key signs with: es256/es384/es512 (EC), ps256/ps384/ps512 (RSA-PSS)
    or ed25519.
    """

    cert_chain_pem: bytes
    private_key_pem: bytes
    alg: str = "es256"

    @classmethod
    def from_pem_bundle(cls, bundle: str | bytes, *, alg: str = "es256") -> SigningCredentials:
        """Split one PEM text (the secret's value: certificates and a private key, in any order)."""
        text = bundle.encode() if isinstance(bundle, str) else bundle
        blocks = [m.group(0) + b"\n" for m in _PEM.finditer(text)]
        certs = b"".join(b for b in blocks if b.startswith(b"-----BEGIN CERTIFICATE-----"))
        keys = [b for b in blocks if b"PRIVATE KEY-----" in b.split(b"\n", 1)[0]]
        if not certs or len(keys) != 1:
            raise ValueError("the signing secret needs a certificate chain and exactly one private key")
        return cls(certs, keys[0], alg)


def manifest_definition(kind: str, digital_source_type: str) -> dict:
    """The manifest: one ``c2pa.edited`` action naming the digital source type."""
    return {
        "claim_generator_info": [{"name": CLAIM_GENERATOR}],
        "format": CONTENT_TYPES[kind],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.edited",
                            "digitalSourceType": digital_source_type,
                            "softwareAgent": {"name": CLAIM_GENERATOR},
                            "description": "faces swapped with a trained model",
                        }
                    ]
                },
            }
        ],
    }


def sign(data: bytes, kind: str, credentials: SigningCredentials, *, digital_source_type: str) -> bytes:
    """``data`` (of image type ``kind``) with a signed manifest embedded; the edited image is its own
    parent ingredient, as the C2PA edit intent records it.

    Raises SigningUnavailable when the C2PA library fails (``problem`` tells a credentials fault apart).
    """
    import c2pa  # the native library loads only where results are signed

    info = c2pa.C2paSignerInfo(credentials.alg, credentials.cert_chain_pem, credentials.private_key_pem, None)
    dest = io.BytesIO()
    try:
        with (
            c2pa.Context(c2pa.Settings.from_dict(_SETTINGS)) as context,
            c2pa.Signer.from_info(info) as signer,
            c2pa.Builder(manifest_definition(kind, digital_source_type), context) as builder,
        ):
            builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
            builder.sign(signer, CONTENT_TYPES[kind], io.BytesIO(data), dest)
    except c2pa.C2paError as exc:  # its message names the fault, never the key
        raise SigningUnavailable(f"C2PA signing failed: {exc}") from exc
    return dest.getvalue()


def problem(credentials: SigningCredentials, digital_source_type: str) -> str | None:
    """Why ``credentials`` cannot sign (an unreadable key, a key of another algorithm than ``alg``, an
    invalid certificate, no C2PA library), found by signing a 1x1 PNG; None when they can."""
    try:
        sign(_PROBE, "png", credentials, digital_source_type=digital_source_type)
    except SigningUnavailable as exc:
        return exc.message
    except ImportError:
        return "the c2pa-python package is not installed (C2paLayer)"
    return None
