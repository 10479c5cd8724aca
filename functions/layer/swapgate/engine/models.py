"""The face models: MediaPipe face detection (short and full range) and the 468-point face mesh.

The model files ship inside the ``mediapipe`` 0.10.21 wheel (Apache-2.0) and are used through its
legacy ``mp.solutions`` API; nothing is downloaded. MediaPipe graphs are not safe to call from two
threads at once, so every call goes through one lock (each call takes a few milliseconds).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from swapgate.errors import ProviderNotConfigured

# Detector boxes whose IoU is above this are the same face (short and full range models agree).
_NMS_IOU = 0.35
# The detector sees at most this many pixels on the long side (its input is 128 or 192 px anyway).
_DETECT_MAX_SIDE = 1280
# Mesh crops: a square this many times the detector box, resized to _MESH_CROP pixels.
_MESH_CROP_SCALE = 2.0
_MESH_CROP = 256


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels
    score: float


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceModels:
    """Loads the MediaPipe solutions once and serialises calls into them."""

    def __init__(self, min_detection_confidence: float = 0.5) -> None:
        self._min_conf = min_detection_confidence
        self._lock = threading.Lock()
        self._loaded = False
        self._detectors: list = []
        self._mesh = None

    def load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            # MediaPipe's C++ logging is noisy on stderr; keep warnings and errors only.
            os.environ.setdefault("GLOG_minloglevel", "2")
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            try:
                from mediapipe.python.solutions import face_detection, face_mesh
            except ImportError as exc:
                raise ProviderNotConfigured(
                    "the local face engine needs MediaPipe 0.10.21: install the extra swapgate[local] "
                    "(MediaPipe ships these models for Python 3.11 and 3.12 only)"
                ) from exc

            self._detectors = [
                # model 1: full range (faces up to ~5 m, small faces in group shots)
                face_detection.FaceDetection(model_selection=1, min_detection_confidence=self._min_conf),
                # model 0: short range (close-ups, which the full-range model can miss)
                face_detection.FaceDetection(model_selection=0, min_detection_confidence=self._min_conf),
            ]
            self._mesh = face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=2,
                refine_landmarks=False,
                min_detection_confidence=self._min_conf,
            )
            self._loaded = True

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Face boxes in ``rgb`` (H x W x 3, uint8), merged over both detectors, unordered."""
        import cv2

        self.load()
        h, w = rgb.shape[:2]
        scale = 1.0
        small = rgb
        if max(h, w) > _DETECT_MAX_SIDE:
            scale = _DETECT_MAX_SIDE / max(h, w)
            small = cv2.resize(
                rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
            )
        small = np.ascontiguousarray(small)
        found: list[Detection] = []
        for detector in self._detectors:
            with self._lock:
                result = detector.process(small)
            for det in result.detections or []:
                rb = det.location_data.relative_bounding_box
                box = (
                    max(0.0, rb.xmin * w),
                    max(0.0, rb.ymin * h),
                    min(float(w), (rb.xmin + rb.width) * w),
                    min(float(h), (rb.ymin + rb.height) * h),
                )
                if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                    continue
                score = float(det.score[0]) if det.score else 0.0
                if all(_iou(box, other.box) < _NMS_IOU for other in found):
                    found.append(Detection(box, score))
        return found

    def landmarks(self, bgr: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray | None:
        """The 468 mesh points (N x 2, float32, image pixels) of the face in ``box``, or None.

        The mesh runs on an enlarged square crop around the box (padded with black where it leaves the
        frame), so faces that are small in a wide picture still fill the mesh model's input.
        """
        import cv2

        self.load()
        x1, y1, x2, y2 = box
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        side = max(x2 - x1, y2 - y1) * _MESH_CROP_SCALE
        k = _MESH_CROP / side
        # image -> crop: p' = k * (p - (c - side/2))
        m = np.array([[k, 0, -k * (cx - side / 2)], [0, k, -k * (cy - side / 2)]], dtype=np.float64)
        interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
        crop = cv2.warpAffine(
            bgr, m, (_MESH_CROP, _MESH_CROP), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        with self._lock:
            result = self._mesh.process(rgb)
        faces = result.multi_face_landmarks or []
        if not faces:
            return None
        best, best_dist = None, None
        for face in faces:
            pts = np.array([(p.x, p.y) for p in face.landmark], dtype=np.float32) * _MESH_CROP
            centre = pts.mean(axis=0)
            dist = float(np.hypot(centre[0] - _MESH_CROP / 2, centre[1] - _MESH_CROP / 2))
            if best_dist is None or dist < best_dist:
                best, best_dist = pts, dist
        # A mesh centred far from the crop centre belongs to a neighbouring face.
        if best is None or best_dist > _MESH_CROP * 0.25:
            return None
        # crop -> image
        best = best / k + np.array([cx - side / 2, cy - side / 2], dtype=np.float32)
        return best.astype(np.float32)
