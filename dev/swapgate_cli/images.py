"""Image arguments: a URL or ``upload://`` reference passed on, or a local file sent inline or uploaded."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from swapgate.images import CONTENT_TYPES, sniff

from swapgate_cli.errors import CliError

if TYPE_CHECKING:
    from swapgate_cli.client import Client

#: Files sent inline in one request, at most. A Lambda request payload is capped at 6 MB and API
#: Gateway hands multipart bodies over base64-encoded (4/3 larger), so bigger files go through uploads.
INLINE_LIMIT = 4 * 1024 * 1024


@dataclass
class ImageArg:
    """An image argument: a URL or ``upload://`` reference passed on, or a local file."""

    value: str
    path: Path | None = None
    size: int = 0
    content_type: str = ""

    @classmethod
    def parse(cls, value: str) -> ImageArg:
        if re.match(r"(?i)^(https?|upload)://", value):
            return cls(value)
        path = Path(value).expanduser()
        if not path.exists():
            raise CliError(f"no such file: {value}", exit_code=2)
        if not path.is_file():
            raise CliError(f"not a file: {value}", exit_code=2)
        try:
            with open(path, "rb") as data:
                head = data.read(16)
        except OSError as exc:
            raise CliError(f"cannot read {value}: {exc.strerror}", exit_code=2) from None
        kind = sniff(head)
        content_type = CONTENT_TYPES[kind] if kind else (mimetypes.guess_type(path.name)[0] or "")
        return cls(value, path, path.stat().st_size, content_type or "application/octet-stream")


def prepare(client: Client, images: list[tuple[str, ImageArg]], out: TextIO) -> list[tuple[str, Any]]:
    """(field, value) parts: files inline while their total stays under INLINE_LIMIT (smallest
    first), the others uploaded and passed as their ``upload://`` reference."""
    files = sorted((image.size, i) for i, (_, image) in enumerate(images) if image.path)
    inline: set[int] = set()
    total = 0
    for size, i in files:
        if total + size <= INLINE_LIMIT:
            inline.add(i)
            total += size
    parts: list[tuple[str, Any]] = []
    for i, (field, image) in enumerate(images):
        if image.path is None:
            parts.append((field, image.value))
        elif i in inline:
            parts.append((field, (image.path.name, image.path.read_bytes(), image.content_type)))
        else:
            print(f"uploading {image.value} ({mb(image.size)})", file=out)
            parts.append((field, client.upload(image)))
    return parts


def mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
