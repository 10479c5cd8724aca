"""Where XMP and C2PA live in JPEG, PNG and WebP files: find them, and swap the XMP packet in place.

Only metadata segments/chunks are touched; every segment or chunk that carries pixels is copied
byte for byte, so marking never re-encodes an image. Malformed structure raises InvalidImage.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from swapgate.errors import InvalidImage

JPEG_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_MAX_PAYLOAD = 0xFFFF - 2
_JPEG_SOS, _JPEG_APP0, _JPEG_APP1, _JPEG_APP11 = 0xDA, 0xE0, 0xE1, 0xEB
_WEBP_XMP_FLAG, _WEBP_ALPHA_FLAG = 0x04, 0x10
_WEBP_IMAGE = {b"VP8 ", b"VP8L", b"ALPH", b"ANMF", b"EXIF"}
_MAX_XMP_INFLATED = 1 << 20  # a compressed PNG packet may not inflate beyond this


@dataclass(frozen=True)
class Found:
    """The XMP packet found in a file (None when it has none) and whether it carries a C2PA manifest."""

    xmp: bytes | None
    c2pa: bool


def _bad(kind: str, why: str) -> InvalidImage:
    return InvalidImage(f"the {kind} image is malformed: {why}")


# --- JPEG ----------------------------------------------------------------------------------------


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """The (marker, start, end) of each segment before the scan data, and the offset of SOS."""
    segments, pos = [], 2
    while True:
        while pos < len(data) and data[pos] == 0xFF and pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise _bad("JPEG", f"no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == _JPEG_SOS:
            if data.rfind(b"\xff\xd9", pos) < 0:  # a file cut short in its scan data
                raise _bad("JPEG", "it has no end-of-image marker")
            return segments, pos
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # TEM, RSTn, SOI: no length field
            raise _bad("JPEG", f"unexpected marker {marker:#x} before the scan")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise _bad("JPEG", "a segment runs past the end of the file")
        segments.append((marker, pos, end))
        pos = end


def _is_jpeg_xmp(data: bytes, marker: int, start: int) -> bool:
    return marker == _JPEG_APP1 and data[start + 4 : start + 4 + len(JPEG_XMP_ID)] == JPEG_XMP_ID


def jpeg_find(data: bytes) -> Found:
    segments, _ = _jpeg_segments(data)
    xmp = next((data[s + 4 + len(JPEG_XMP_ID) : e] for m, s, e in segments if _is_jpeg_xmp(data, m, s)), None)
    c2pa = any(m == _JPEG_APP11 and b"c2pa" in data[s:e] for m, s, e in segments)
    return Found(xmp, c2pa)


def _after_jfif_and_exif(data: bytes, segments: list[tuple[int, int, int]]) -> int:
    at = 0
    while at < len(segments) and (
        segments[at][0] == _JPEG_APP0
        or (segments[at][0] == _JPEG_APP1 and data.startswith(b"Exif\0", segments[at][1] + 4))
    ):
        at += 1
    return at


def jpeg_put(data: bytes, packet: bytes) -> bytes:
    """``data`` with ``packet`` as its only XMP segment, where the first old one was or else after SOI,
    JFIF (APP0) and Exif."""
    payload = JPEG_XMP_ID + packet
    if len(payload) > _JPEG_MAX_PAYLOAD:
        raise ValueError("the XMP packet does not fit one JPEG segment")
    segments, sos = _jpeg_segments(data)
    old = [i for i, (m, s, _) in enumerate(segments) if _is_jpeg_xmp(data, m, s)]
    kept = [seg for i, seg in enumerate(segments) if i not in old]
    insert_at = old[0] if old else _after_jfif_and_exif(data, kept)
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    parts = [data[:2]] + [data[s:e] for _, s, e in kept[:insert_at]] + [segment]
    parts += [data[s:e] for _, s, e in kept[insert_at:]] + [data[sos:]]
    return b"".join(parts)


# --- PNG -----------------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """The (type, start, end) of every chunk through IEND."""
    chunks, pos = [], len(_PNG_SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise _bad("PNG", "it ends before IEND")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            raise _bad("PNG", f"chunk {kind!r} runs past the end of the file")
        chunks.append((kind, pos, end))
        if kind == b"IEND":
            break
        pos = end
    if chunks[0][0] != b"IHDR":
        raise _bad("PNG", "IHDR is not the first chunk")
    return chunks


def _png_xmp_text(body: bytes) -> bytes | None:
    """The text of an iTXt chunk body when it is the XMP packet, else None."""
    keyword, sep, rest = body.partition(b"\0")
    if keyword != PNG_XMP_KEYWORD or not sep or len(rest) < 2:
        return None
    compressed, rest = rest[0], rest[2:]
    _lang, _, rest = rest.partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    if not compressed:
        return text
    inflater = zlib.decompressobj()
    try:
        return inflater.decompress(text, _MAX_XMP_INFLATED) or None
    except zlib.error:
        return None


def png_find(data: bytes) -> Found:
    xmp = None
    c2pa = False
    for kind, start, end in _png_chunks(data):
        if kind == b"iTXt" and xmp is None:
            xmp = _png_xmp_text(data[start + 8 : end - 4])
        c2pa = c2pa or kind == b"caBX"
    return Found(xmp, c2pa)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_put(data: bytes, packet: bytes) -> bytes:
    """``data`` with ``packet`` as its only XMP iTXt chunk (uncompressed), placed before the first IDAT."""
    chunk = _png_chunk(b"iTXt", PNG_XMP_KEYWORD + b"\0\0\0\0\0" + packet)
    parts, placed = [data[: len(_PNG_SIGNATURE)]], False
    for kind, start, end in _png_chunks(data):
        if kind == b"iTXt" and data.startswith(PNG_XMP_KEYWORD + b"\0", start + 8):
            continue
        if not placed and kind in (b"IDAT", b"IEND"):
            parts.append(chunk)
            placed = True
        parts.append(data[start:end])
    return b"".join(parts)


# --- WebP ----------------------------------------------------------------------------------------


def _webp_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """The (fourcc, start, end) of every chunk, ``end`` including the pad byte."""
    if len(data) < 20:
        raise _bad("WebP", "it is too short")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    limit = 8 + riff_size
    if limit > len(data) or riff_size < 4:
        raise _bad("WebP", "the RIFF size runs past the end of the file")
    chunks, pos = [], 12
    while pos < limit:
        if pos + 8 > limit:
            raise _bad("WebP", "a chunk header is cut short")
        kind, size = struct.unpack_from("<4sI", data, pos)
        end = pos + 8 + size + (size & 1)
        if pos + 8 + size > limit:
            raise _bad("WebP", f"chunk {kind!r} runs past the end of the file")
        chunks.append((kind, pos, min(end, limit)))
        pos = end
    if not chunks or chunks[0][0] not in (b"VP8 ", b"VP8L", b"VP8X"):
        raise _bad("WebP", "it has no VP8, VP8L or VP8X chunk first")
    return chunks


def webp_find(data: bytes) -> Found:
    chunks = _webp_chunks(data)
    xmp = next((data[s + 8 : s + 8 + _size(data, s)] for k, s, _ in chunks if k == b"XMP "), None)
    return Found(xmp, any(k == b"C2PA" for k, _, _ in chunks))


def _size(data: bytes, start: int) -> int:
    return struct.unpack_from("<I", data, start + 4)[0]


def _webp_canvas(data: bytes, kind: bytes, start: int) -> tuple[int, int, bool]:
    """Canvas width, height and the alpha hint, read from a simple file's VP8 or VP8L bitstream."""
    body = data[start + 8 : start + 8 + _size(data, start)]
    if kind == b"VP8 ":
        # frame tag (3 bytes, key frame when bit 0 is clear), start code 9d 01 2a, 14-bit sizes
        if len(body) < 10 or body[0] & 1 or body[3:6] != b"\x9d\x01\x2a":
            raise _bad("WebP", "the VP8 key frame header is missing")
        width, height = struct.unpack_from("<HH", body, 6)
        return width & 0x3FFF, height & 0x3FFF, False
    # VP8L: signature 0x2f, then 14 bits width-1, 14 bits height-1, 1 bit alpha, 3 bits version
    if len(body) < 5 or body[0] != 0x2F:
        raise _bad("WebP", "the VP8L header is missing")
    (bits,) = struct.unpack_from("<I", body, 1)
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)


def _padded(data: bytes, start: int, end: int) -> bytes:
    # a last chunk may lack its pad byte; once another chunk follows it, the pad is due
    return data[start:end] + (b"\0" if (end - start) & 1 else b"")


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def webp_put(data: bytes, packet: bytes) -> bytes:
    """``data`` in the extended (VP8X) format with the XMP flag set and ``packet`` as its only XMP
    chunk, after the image data and EXIF (the order the WebP container spec gives)."""
    chunks = _webp_chunks(data)
    first, start, _ = chunks[0]
    if first == b"VP8X":
        header = bytearray(_padded(data, start, chunks[0][2]))
        if _size(data, start) < 10:
            raise _bad("WebP", "the VP8X chunk is cut short")
        header[8] |= _WEBP_XMP_FLAG
        rest = chunks[1:]
    else:
        width, height, alpha = _webp_canvas(data, first, start)
        flags = _WEBP_XMP_FLAG | (_WEBP_ALPHA_FLAG if alpha else 0)
        sizes = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        header = bytearray(_riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + sizes))
        rest = chunks
    kept = [(k, s, e) for k, s, e in rest if k != b"XMP "]
    insert_at = max((i + 1 for i, (k, _, _) in enumerate(kept) if k in _WEBP_IMAGE), default=len(kept))
    body = [bytes(header)] + [_padded(data, s, e) for _, s, e in kept[:insert_at]]
    body += [_riff_chunk(b"XMP ", packet)] + [_padded(data, s, e) for _, s, e in kept[insert_at:]]
    payload = b"WEBP" + b"".join(body)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload
