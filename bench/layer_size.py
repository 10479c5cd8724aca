"""The built layers' zipped sizes (not a test): SwapgateLayer against its 10 MB budget, and C2paLayer
(the C2PA library, attached only where results are signed).

Zips ``.aws-sam/build/<layer>`` when ``make build`` has made it; else builds the layer into a temporary
folder with its own Makefile (the same pip command ``sam build`` runs: Linux arm64 wheels, needs the
package index) and zips that.

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
BUILT = ROOT / ".aws-sam" / "build"
#: logical id -> (source folder, zipped budget in MB or None)
LAYERS = {"SwapgateLayer": ("functions/layer", 10.0), "C2paLayer": ("functions/c2pa_layer", None)}


def zipped_size(folder: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return buffer.tell()


def build(layer: str, into: Path) -> bool:
    """The layer's Makefile target into ``into``; False (and why) if it could not run."""
    if not shutil.which("make"):
        print("layer size: no make on this machine; run make build first")
        return False
    scratch = into / "src"
    shutil.copytree(ROOT / LAYERS[layer][0], scratch, ignore=shutil.ignore_patterns("__pycache__"))
    make = shutil.which("make") or "make"
    done = subprocess.run(  # noqa: S603
        [
            make,
            "-s",
            f"build-{layer}",
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
        print(f"layer size: the {layer} build failed (run make build first):\n{done.stderr.strip()[-800:]}")
        return False
    return True


def measure(layer: str) -> None:
    built = BUILT / layer
    if built.is_dir():
        size, source = zipped_size(built), str(built.relative_to(ROOT))
    else:
        with tempfile.TemporaryDirectory(prefix="swapgate-layer-") as scratch:
            if not build(layer, Path(scratch)):
                return
            size, source = zipped_size(Path(scratch) / "out"), f"{LAYERS[layer][0]}/Makefile into a temp dir"
    mb, budget = size / 1e6, LAYERS[layer][1]
    verdict = "" if budget is None else f"; {'within' if mb <= budget else 'OVER'} the {budget:.0f} MB budget"
    print(f"{layer} zipped: {mb:.2f} MB ({source}){verdict}")


def main() -> None:
    for layer in LAYERS:
        measure(layer)


if __name__ == "__main__":
    main()
