"""Regenerate docs/images/swap-example.jpg from the fixture photos (needs the `local` extra):

.venv/bin/python docs/images/make_swap_example.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from swapgate.engine import FaceEngine

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "tests" / "fixtures" / "faces"
OUT = ROOT / "docs" / "images" / "swap-example.jpg"
TILE = 300


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def tile(img: np.ndarray, box: list[int], label: str) -> np.ndarray:
    """A square crop around the face box, with a caption."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 0.1 * (y2 - y1)
    side = 2.4 * max(x2 - x1, y2 - y1)
    k = TILE / side
    m = np.array([[k, 0, -(cx - side / 2) * k], [0, k, -(cy - side / 2) * k]])
    out = cv2.warpAffine(img, m, (TILE, TILE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    cv2.rectangle(out, (0, TILE - 30), (TILE, TILE), (0, 0, 0), -1)
    cv2.putText(out, label, (10, TILE - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    engine = FaceEngine()
    rows = []
    for source_name, face_name in [
        ("astronaut.png", "grace_hopper.jpg"),
        ("grace_hopper.jpg", "astronaut.png"),
    ]:
        source, face = (FACES / source_name).read_bytes(), (FACES / face_name).read_bytes()
        source_box, face_box = engine.detect(source)[0], engine.detect(face)[0]
        result = engine.swap(source, face)
        rows.append(
            np.hstack(
                [
                    tile(decode(source), source_box, f"source: {source_name}"),
                    tile(decode(face), face_box, f"face: {face_name}"),
                    tile(decode(result), source_box, "result: swap(source, face)"),
                ]
            )
        )
    ok, buf = cv2.imencode(".jpg", np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    OUT.write_bytes(buf.tobytes())
    print(f"{OUT.relative_to(ROOT)}: {len(buf) // 1024} KB")


if __name__ == "__main__":
    main()
