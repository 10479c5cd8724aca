"""Helpers for the tests of the provider fakes (the fixtures come from tests/support/fixtures.py)."""

from __future__ import annotations

import struct
import zlib

import pytest


def _png_size(data: bytes) -> tuple[int, int]:
    """Check ``data`` is a complete, valid 8-bit RGB/RGBA PNG (signature, chunk CRCs, IHDR, IDAT
    size, IEND) and return (width, height). Independent of the fakes' PNG writer."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + payload) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        chunks.append(kind)
        if kind == b"IDAT":
            idat += payload
        pos += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and b"IDAT" in chunks
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and color in (2, 6)
    channels = 3 if color == 2 else 4
    assert len(zlib.decompress(idat)) == height * (1 + width * channels)
    return width, height


@pytest.fixture(scope="session")
def png_size():
    """The PNG checker: ``png_size(data) -> (width, height)``, failing on anything but a valid PNG."""
    return _png_size


@pytest.fixture(scope="session")
def webp_bytes() -> bytes:
    # a valid 2x2 lossless WebP (made with Pillow once)
    return bytes.fromhex("524946461e000000574542505650384c110000002f0140000007508f2297a7ff8188e87f0000")
