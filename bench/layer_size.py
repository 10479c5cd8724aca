"""The built layer's zipped size against its 10 MB budget (not a test).

Zips ``.aws-sam/build/SwapgateLayer`` when ``make build`` has made it; else builds the layer into a
temporary folder with functions/layer/Makefile itself (the same pip command ``sam build`` runs: Linux
arm64 CPython 3.13 wheels, needs the package index) and zips that.

    make bench            # or: python bench/layer_size.py
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / ".aws-sam" / "build" / "SwapgateLayer"
BUDGET_MB = 10.0


def zipped_size(folder: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return buffer.tell()


def build(into: Path) -> bool:
    """functions/layer/Makefile's target into ``into``; False (and why) if it could not run."""
    if not shutil.which("make"):
        print("layer size: no make on this machine; run make build first")
        return False
    scratch = into / "src"
    shutil.copytree(ROOT / "functions" / "layer", scratch, ignore=shutil.ignore_patterns("__pycache__"))
    make = shutil.which("make") or "make"
    done = subprocess.run(  # noqa: S603
        [
            make,
            "-s",
            "build-SwapgateLayer",
            f"ARTIFACTS_DIR={into / 'out'}",
            f"PIP={sys.executable} -m pip",
        ],
        cwd=scratch,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    if done.returncode != 0:
        print(f"layer size: the layer build failed (run make build first):\n{done.stderr.strip()[-800:]}")
        return False
    return True


def main() -> None:
    if BUILT.is_dir():
        size, source = zipped_size(BUILT), str(BUILT.relative_to(ROOT))
    else:
        with tempfile.TemporaryDirectory(prefix="swapgate-layer-") as scratch:
            if not build(Path(scratch)):
                return
            size, source = zipped_size(Path(scratch) / "out"), "functions/layer/Makefile into a temp dir"
    mb = size / 1e6
    verdict = "within" if mb <= BUDGET_MB else "OVER"
    print(f"layer zipped: {mb:.2f} MB ({source}); {verdict} the {BUDGET_MB:.0f} MB budget")


if __name__ == "__main__":
    main()
