"""Machine-readable marks on synthetic images: the IPTC Digital Source Type in XMP, and a C2PA manifest.

``mark`` writes the digital source type into a JPEG, PNG or WebP file's XMP packet without re-encoding
its pixels; ``read_marks`` says what a file carries; ``sign_c2pa`` (which needs the optional
``c2pa-python`` package, imported only when called) adds a signed C2PA manifest stating the edit. Mark
first, then sign: the manifest's hash covers the XMP, so marking a signed file breaks its manifest.
"""

from __future__ import annotations

from swapgate.errors import InvalidImage
from swapgate.images import sniff
from swapgate.provenance import c2pa_manifest, containers, xmp
from swapgate.provenance.c2pa_manifest import SigningCredentials

DIGITAL_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: an edit of a real image made with a trained model: what a face swap is
COMPOSITE_TRAINED = DIGITAL_SOURCE_TYPES + "compositeWithTrainedAlgorithmicMedia"

_FIND = {"jpeg": containers.jpeg_find, "png": containers.png_find, "webp": containers.webp_find}
_PUT = {"jpeg": containers.jpeg_put, "png": containers.png_put, "webp": containers.webp_put}

__all__ = ["COMPOSITE_TRAINED", "InvalidImage", "SigningCredentials", "mark", "read_marks", "sign_c2pa"]


def _kind(data: bytes) -> str:
    kind = sniff(data)
    if kind is None:
        raise InvalidImage("the data is not a JPEG, PNG or WebP image")
    return kind


def mark(data: bytes, *, digital_source_type: str = COMPOSITE_TRAINED) -> bytes:
    """``data`` with its XMP packet stating ``digital_source_type`` (an existing packet keeps its other
    properties; marking twice leaves one packet). Pixel data is copied byte for byte.

    Raises InvalidImage when ``data`` is not a well-formed JPEG, PNG or WebP file.
    """
    kind = _kind(data)
    found = _FIND[kind](data)
    packet = xmp.merge(found.xmp, digital_source_type)
    try:
        return _PUT[kind](data, packet)
    except ValueError:  # a merged packet too large for one JPEG segment: keep only the mark
        return _PUT[kind](data, xmp.build(digital_source_type))


def read_marks(data: bytes) -> dict:
    """What ``data`` carries: ``{"digital_source_type": str | None, "c2pa": bool}`` (``c2pa`` says a
    manifest is embedded, not that it is valid: ``sign_c2pa``'s tests check that with the C2PA reader).

    Raises InvalidImage when ``data`` is not a well-formed JPEG, PNG or WebP file.
    """
    found = _FIND[_kind(data)](data)
    return {"digital_source_type": xmp.digital_source_type(found.xmp), "c2pa": found.c2pa}


def sign_c2pa(
    data: bytes,
    credentials: SigningCredentials,
    *,
    digital_source_type: str = COMPOSITE_TRAINED,
) -> bytes:
    """``data`` with a C2PA manifest stating a ``c2pa.edited`` action of ``digital_source_type``,
    signed with ``credentials``. Needs the ``c2pa-python`` package (a layer of its own)."""
    return c2pa_manifest.sign(data, _kind(data), credentials, digital_source_type=digital_source_type)
