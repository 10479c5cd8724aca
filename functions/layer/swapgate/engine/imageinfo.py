"""Pure-Python image header reading: format and size without decoding pixels.

Cheap enough for request validation (no numpy or OpenCV import), and used by the engine to refuse
images whose header announces more pixels than it will decode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from swapgate.errors import ImageTooLarge, InvalidImage

#: The engine refuses images with more pixels than this (about 8000 x 8000).
MAX_PIXELS = 64_000_000


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "jpeg" | "png" | "webp"
    width: int
    height: int


def sniff_format(data: bytes) -> str | None:
    """``jpeg``, ``png`` or ``webp`` from the magic bytes, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# JPEG start-of-frame markers (baseline, progressive, lossless...), not DHT (C4), JPG (C8), DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF_MARKERS:
            if i + 9 > n:
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            return None
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def read_info(data: bytes, field: str | None = None, what: str = "image") -> ImageInfo:
    """Format and size from the header. Raises InvalidImage (not JPEG/PNG/WebP, or a broken header)
    or ImageTooLarge (more than MAX_PIXELS). ``what`` names the image in messages."""
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise InvalidImage(f"the {what} is empty", field=field)
    data = bytes(data)
    fmt = sniff_format(data)
    if fmt is None:
        raise InvalidImage(f"the {what} is not a JPEG, PNG or WebP image", field=field)
    size = {"png": _png_size, "jpeg": _jpeg_size, "webp": _webp_size}[fmt](data)
    if size is None or size[0] <= 0 or size[1] <= 0:
        raise InvalidImage(f"the {what} has an unreadable {fmt.upper()} header", field=field)
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(
            f"the {what} is {width}x{height} pixels; at most {MAX_PIXELS // 1_000_000} megapixels",
            field=field,
        )
    return ImageInfo(fmt, width, height)
