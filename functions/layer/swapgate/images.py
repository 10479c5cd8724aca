"""Image types, told by their magic bytes (never by a file name or a declared content type)."""

from __future__ import annotations

from swapgate.errors import InvalidImage

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}


def sniff(data: bytes) -> str | None:
    """The image type of ``data`` ("jpeg", "png", "webp"), or None when it is none of them."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def require_image(data: bytes, field: str) -> str:
    """The image type of ``data``; InvalidImage naming ``field`` when it is not JPEG, PNG or WebP."""
    kind = sniff(data)
    if kind is None:
        raise InvalidImage(f"{field} is not a JPEG, PNG or WebP image", field=field)
    return kind
