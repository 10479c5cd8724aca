"""The local face engine: offline face detection and a classical face swap.

Its dependencies (MediaPipe, OpenCV, NumPy) are the optional extra ``swapgate[local]``. Importing this
package is cheap: they load only when ``FaceEngine`` (or ``get_engine``) is first used.

    from swapgate.engine import FaceEngine
    engine = FaceEngine()
    engine.detect(image_bytes)              # [[x1, y1, x2, y2], ...] left to right, then top to bottom
    engine.swap(source_bytes, face_bytes)   # JPEG when the source is JPEG, else PNG
    engine.multi_swap(source_bytes, [face_a, face_b], [1, 0])
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swapgate.engine.core import FaceEngine

__all__ = ["FaceEngine", "get_engine"]

_engine = None
_engine_lock = threading.Lock()


def get_engine() -> FaceEngine:
    """The process-wide engine, created on first use."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                from swapgate.engine.core import FaceEngine

                _engine = FaceEngine()
    return _engine


def __getattr__(name: str) -> Any:
    if name == "FaceEngine":
        from swapgate.engine.core import FaceEngine

        return FaceEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
