"""Test certificates for C2PA signing, and reading a signed file back with the C2PA library's reader."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SIGNER_NAME = "Swapgate test signer"


def certificate_chain() -> tuple[bytes, bytes, bytes]:
    """A test root, intermediate and signer, shaped as C2PA's certificate profile asks: the signer has
    a critical digitalSignature key usage, a critical emailProtection extended key usage, CA false, and
    key identifiers. Returns (signer + intermediate PEM, signer's key PEM, root PEM)."""
    now = dt.datetime.now(dt.UTC)

    def name(cn):
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Swapgate tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    def cert(subject, key, issuer, issuer_key, *, ca):
        usage = dict.fromkeys(
            ["key_encipherment", "data_encipherment", "key_agreement", "encipher_only", "decipher_only"],
            False,
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=not ca, key_cert_sign=ca, crl_sign=ca, **usage
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
        )
        if not ca:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=True
            )
        return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    root_key, mid_key, signer_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = cert("Test root", root_key, "Test root", root_key, ca=True)
    mid = cert("Test intermediate", mid_key, "Test root", root_key, ca=True)
    signer = cert(SIGNER_NAME, signer_key, "Test intermediate", mid_key, ca=False)
    key_pem = signer_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return signer + mid, key_pem, root


def read_manifest_store(c2pa: Any, data: bytes, mime: str, root: bytes) -> dict:
    """The C2PA reader's view of ``data`` (its manifest store as JSON), validated with ``root`` as the
    only trust anchor."""
    trust = c2pa.Settings.from_dict(
        {"trust": {"trust_anchors": root.decode()}, "verify": {"verify_trust": True}}
    )
    with c2pa.Context(trust) as context, c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
        return json.loads(reader.json())
