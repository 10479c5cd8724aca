"""Small generated pictures for tests that need an image of a given type (Pillow makes them; it comes
with the `local` extra, so callers skip where it is missing: ``pytest.importorskip("PIL.Image")``)."""

from __future__ import annotations

import io


def solid_image(
    kind: str, size: tuple[int, int] = (24, 16), colour: tuple[int, int, int] = (200, 40, 90)
) -> bytes:
    """A one-colour picture encoded as ``kind`` (``jpeg``, ``png`` or ``webp``)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=kind.upper())
    return out.getvalue()
