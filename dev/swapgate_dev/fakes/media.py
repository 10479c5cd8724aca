"""Small media helpers for the fakes: image sniffing, result PNGs and multipart parsing."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import struct
import zlib
from typing import NamedTuple

#: (type, byte offset, magic) as the file formats define them: the fakes keep their own table, so a
#: fake never trusts the code it tests
_SIGNATURES = (("jpeg", 0, b"\xff\xd8\xff"), ("png", 0, b"\x89PNG\r\n\x1a\n"), ("webp", 8, b"WEBP"))


def sniff_image(data: bytes) -> str | None:
    """``jpeg``, ``png`` or ``webp`` by magic bytes, else None."""
    for kind, offset, magic in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (kind != "webp" or data.startswith(b"RIFF")):
            return kind
    return None


def make_png(seed: str, size: int = 64) -> bytes:
    """A valid RGB PNG of ``size`` x ``size`` pixels, deterministic and distinct per ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    r0, g0, b0, dr, dg = digest[:5]
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter type: None
        for x in range(size):
            rows += bytes(((r0 + x * 3) % 256, (g0 + y * 3) % 256, (b0 + (x ^ y) * (dr | 1) + dg) % 256))

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


class FilePart(NamedTuple):
    """A file part of a multipart request. The bytes never show in reprs."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:
        return (
            f"FilePart(field={self.field!r}, filename={self.filename!r}, "
            f"content_type={self.content_type!r}, size={len(self.data)})"
        )


class MultipartError(ValueError):
    pass


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]], list[FilePart]]:
    """Split a ``multipart/form-data`` body into text fields and file parts (stdlib ``email``, no ``cgi``).

    A part with a filename is a file; any other part is a text field (UTF-8).
    """
    if "boundary=" not in content_type:
        raise MultipartError("multipart body without a boundary")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise MultipartError("malformed multipart body")
    form: dict[str, list[str]] = {}
    files: list[FilePart] = []
    for part in message.iter_parts():
        if part.get_content_disposition() != "form-data":
            raise MultipartError("a part without Content-Disposition: form-data")
        name = part.get_param("name", header="content-disposition")
        if not name:
            raise MultipartError("a part without a name")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files.append(FilePart(name, filename, part.get("Content-Type"), payload))
        else:
            try:
                form.setdefault(name, []).append(payload.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise MultipartError(f"field {name!r} is not UTF-8 text") from exc
    return form, files
