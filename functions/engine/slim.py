"""Trim the EngineFunction's installed packages to what the engine loads (run by ./Makefile at build time;
it is not shipped). Lambda allows 250 MiB unzipped; the untrimmed install is about 265 MB.

* MediaPipe: its package ``__init__`` imports every solution and the Tasks API, which pull in
  matplotlib (drawing utils), sounddevice (audio tasks) and more. Only ``mediapipe.python`` (the
  framework bindings) and the face detection and face mesh solutions are used, imported by their
  module paths, so the two ``__init__`` files are replaced by ones that import nothing else, the
  Tasks API is removed, and so are the model files of the solutions the engine never runs (hands,
  pose, iris, selfie segmentation, the attention mesh: about 27 MB).
* OpenCV: the Haar cascade files (``cv2/data``, about 10 MB; the engine uses MediaPipe's detectors).
* Everywhere: test folders, console scripts, bytecode caches.

The replaced ``__init__`` files are tied to the MediaPipe version, which is checked first.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

MEDIAPIPE_VERSION = "0.10.21"
#: the models the engine's detectors and mesh load (swapgate/engine/models.py)
KEEP_MODELS = {
    "face_detection_full_range_sparse.tflite",
    "face_detection_short_range.tflite",
    "face_landmark.tflite",
}
MEDIAPIPE_INIT = f'''"""MediaPipe, trimmed for the Swapgate engine: the framework bindings only; import solutions by
their module paths (mediapipe.python.solutions.face_detection)."""

from mediapipe.python import *  # noqa: F403

__version__ = "{MEDIAPIPE_VERSION}"
'''
SOLUTIONS_INIT = (
    '"""MediaPipe solutions, trimmed for the Swapgate engine: import each one by its module path."""\n'
)


def slim(root: Path) -> None:
    version = (root / f"mediapipe-{MEDIAPIPE_VERSION}.dist-info").is_dir()
    if not version:
        sys.exit(
            f"slim.py: expected mediapipe {MEDIAPIPE_VERSION} in {root}; review the trimming for another"
        )
    mediapipe = root / "mediapipe"
    (mediapipe / "__init__.py").write_text(MEDIAPIPE_INIT)
    (mediapipe / "python" / "solutions" / "__init__.py").write_text(SOLUTIONS_INIT)
    shutil.rmtree(mediapipe / "tasks")
    for model in (mediapipe / "modules").rglob("*.tflite"):
        if model.name not in KEEP_MODELS:
            model.unlink()
    for test in mediapipe.rglob("*_test.py"):
        test.unlink()
    for cascade in (root / "cv2" / "data").glob("*.xml"):
        cascade.unlink()
    for folder in [*root.rglob("__pycache__"), *root.glob("*/tests"), *root.glob("*/*/tests"), root / "bin"]:
        shutil.rmtree(folder, ignore_errors=True)
    missing = [name for name in KEEP_MODELS if not any(mediapipe.rglob(name))]
    if missing:
        sys.exit(f"slim.py: models the engine needs are missing: {missing}")


if __name__ == "__main__":
    slim(Path(sys.argv[1]))
