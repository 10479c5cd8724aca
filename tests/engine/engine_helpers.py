"""Image helpers for the engine tests (decode, encode, masks, PSNR, IoU)."""

from __future__ import annotations

import cv2
import numpy as np
from swapgate.engine import FaceEngine


def decode(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None, "the engine returned bytes OpenCV cannot decode"
    return img


def encode(img: np.ndarray, ext: str = ".png") -> bytes:
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def face_mask(engine: FaceEngine, img: np.ndarray, dilate: int = 6) -> np.ndarray:
    """A bool mask of every face's mesh hull in ``img`` (as the engine sees them), slightly grown."""
    mask = np.zeros(img.shape[:2], np.uint8)
    for face in engine.faces(img):
        hull = cv2.convexHull(np.round(face.points).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255)
    if dilate:
        mask = cv2.dilate(mask, np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8))
    return mask > 0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two equal-length pixel arrays (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0
