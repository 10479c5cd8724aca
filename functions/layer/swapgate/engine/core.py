"""FaceEngine: decode, find faces, swap, encode. See docs/engine.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from swapgate.engine.imageinfo import ImageInfo, read_info
from swapgate.engine.models import FaceModels
from swapgate.engine.warp import swap_face
from swapgate.errors import FaceIndexOutOfRange, InvalidImage, InvalidRequest, NoFaceDetected

SOURCE_FIELD = "source_image"
FACE_FIELD = "face_image"
JPEG_QUALITY = 95
PNG_COMPRESSION = 3


@dataclass(frozen=True)
class Face:
    """One face the engine can swap: its detector box and its 468 mesh points (image pixels)."""

    box: tuple[int, int, int, int]
    score: float
    points: np.ndarray

    @property
    def area(self) -> int:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


@dataclass
class Decoded:
    info: ImageInfo
    bgr: np.ndarray  # H x W x 3 uint8
    alpha: np.ndarray | None  # H x W uint8 when a PNG or WebP had transparency


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def decode(data: bytes, field: str, what: str) -> Decoded:
    """Decode JPEG/PNG/WebP bytes to BGR (EXIF orientation applied for JPEG)."""
    info = read_info(data, field=field, what=what)
    buf = np.frombuffer(data, dtype=np.uint8)
    alpha = None
    try:
        if info.format == "jpeg":
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        else:
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            if img is not None:
                img = _to_uint8(img)
                if img.ndim == 2:
                    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
                elif img.shape[2] == 4:
                    alpha = np.ascontiguousarray(img[:, :, 3])
                    img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
                elif img.shape[2] == 2:  # grey + alpha
                    alpha = np.ascontiguousarray(img[:, :, 1])
                    img = cv2.cvtColor(np.ascontiguousarray(img[:, :, 0]), cv2.COLOR_GRAY2BGR)
    except cv2.error as exc:
        raise InvalidImage(f"the {what} could not be decoded", field=field) from exc
    if img is None or img.size == 0:
        raise InvalidImage(f"the {what} could not be decoded", field=field)
    return Decoded(info, np.ascontiguousarray(img), alpha)


def encode(img: np.ndarray, alpha: np.ndarray | None, as_jpeg: bool) -> bytes:
    if as_jpeg:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    else:
        if alpha is not None:
            img = np.dstack([img, alpha])
        ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit 3/4-channel image
        raise RuntimeError("could not encode the result image")
    return buf.tobytes()


def result_format(source_bytes: bytes) -> str:
    """``jpeg`` when the source is a JPEG, else ``png``: the format swap() and multi_swap() return."""
    return "jpeg" if source_bytes[:3] == b"\xff\xd8\xff" else "png"


#: Faces whose box centres are closer than this fraction of a box width horizontally count as one
#: column (one above the other) and are ordered top to bottom.
COLUMN_TOLERANCE = 0.25


def order_faces(faces: list[Face]) -> list[Face]:
    """The documented face order: left to right by box centre; faces standing one above the other
    (centres within COLUMN_TOLERANCE of a box width horizontally) top to bottom."""

    def centre(f: Face) -> tuple[float, float]:
        return (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2

    by_x = sorted(faces, key=lambda f: (*centre(f), f.box))
    ordered: list[Face] = []
    column: list[Face] = []
    for face in by_x:
        if column:
            first = column[0]
            if centre(face)[0] - centre(first)[0] > COLUMN_TOLERANCE * (first.box[2] - first.box[0]):
                ordered.extend(sorted(column, key=lambda f: (centre(f)[1], centre(f)[0])))
                column = []
        column.append(face)
    ordered.extend(sorted(column, key=lambda f: (centre(f)[1], centre(f)[0])))
    return ordered


class FaceEngine:
    """Offline face detection and classical face swap (MediaPipe models, OpenCV).

    Models load once, on first use (or on ``warm_up()``). Safe to share between a few threads: model
    calls are serialised by a lock, the warp and blend run in parallel.
    """

    def __init__(self, min_detection_confidence: float = 0.5) -> None:
        self._models = FaceModels(min_detection_confidence)

    def warm_up(self) -> None:
        """Load the models now instead of on the first call."""
        self._models.load()

    # --- faces ------------------------------------------------------------------------------------

    def faces(self, img: np.ndarray) -> list[Face]:
        """The swappable faces in a BGR image, in the order of ``order_faces``. A detected face whose
        mesh cannot be fitted is left out, so every index names a face that swap() can use."""
        h, w = img.shape[:2]
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        found: list[Face] = []
        for det in self._models.detect(rgb):
            pts = self._models.landmarks(img, det.box)
            if pts is None:
                continue
            x1, y1, x2, y2 = det.box
            box = (
                int(np.clip(round(x1), 0, w - 1)),
                int(np.clip(round(y1), 0, h - 1)),
                int(np.clip(round(x2), 1, w)),
                int(np.clip(round(y2), 1, h)),
            )
            found.append(Face(box, det.score, pts))
        return order_faces(found)

    def detect(self, image_bytes: bytes) -> list[list[int]]:
        """Boxes ``[x1, y1, x2, y2]`` (pixels from the top-left) of the faces in an image, in the order
        of ``order_faces`` (left to right, one above the other: top to bottom). Empty when none."""
        img = decode(image_bytes, SOURCE_FIELD, "image").bgr
        return [list(f.box) for f in self.faces(img)]

    # --- swapping ---------------------------------------------------------------------------------

    def _face_from(self, face_bytes: bytes, field: str, what: str) -> tuple[np.ndarray, Face]:
        img = decode(face_bytes, field, what).bgr
        found = self.faces(img)
        if not found:
            raise NoFaceDetected(f"no face was found in the {what}", field=field)
        return img, max(found, key=lambda f: f.area)

    def swap(self, source_bytes: bytes, face_bytes: bytes) -> bytes:
        """Put the largest face of ``face_bytes`` into the largest face of ``source_bytes``.

        Returns the encoded result: JPEG when the source is a JPEG, else PNG (keeping transparency).
        """
        src = decode(source_bytes, SOURCE_FIELD, "source image")
        targets = self.faces(src.bgr)
        if not targets:
            raise NoFaceDetected("no face was found in the source image", field=SOURCE_FIELD)
        target = max(targets, key=lambda f: f.area)
        face_img, face = self._face_from(face_bytes, FACE_FIELD, "face image")
        out, _ = swap_face(src.bgr, target.points, face_img, face.points)
        return encode(out, src.alpha, src.info.format == "jpeg")

    def multi_swap(self, source_bytes: bytes, faces: Sequence[bytes], indexes: Sequence[int]) -> bytes:
        """Put the largest face of ``faces[i]`` into the source face at position ``indexes[i]`` of
        ``detect(source_bytes)``. Output format as in swap()."""
        faces, indexes = list(faces), list(indexes)
        if not faces:
            raise InvalidRequest("at least one face image is needed", field="faces")
        if len(faces) != len(indexes):
            raise InvalidRequest(
                f"{len(faces)} face images but {len(indexes)} indexes: give one index per face image",
                field="indexes",
            )
        if any(isinstance(i, bool) or not isinstance(i, int | np.integer) for i in indexes):
            raise InvalidRequest("indexes must be whole numbers", field="indexes")
        if len(set(indexes)) != len(indexes):
            raise InvalidRequest("each source face can be swapped only once", field="indexes")
        src = decode(source_bytes, SOURCE_FIELD, "source image")
        targets = self.faces(src.bgr)
        if not targets:
            raise NoFaceDetected("no face was found in the source image", field=SOURCE_FIELD)
        bad = [i for i in indexes if not 0 <= i < len(targets)]
        if bad:
            raise FaceIndexOutOfRange(
                f"face index {bad[0]} is out of range: the source image has {len(targets)} "
                f"face{'s' if len(targets) != 1 else ''} (indexes 0 to {len(targets) - 1})",
                field="indexes",
            )
        out = src.bgr
        for n, (face_bytes, index) in enumerate(zip(faces, indexes, strict=True)):
            what = f"face image {n}" if len(faces) > 1 else "face image"
            face_img, face = self._face_from(face_bytes, FACE_FIELD, what)
            out, _ = swap_face(out, targets[index].points, face_img, face.points)
        return encode(out, src.alpha, src.info.format == "jpeg")
