"""Regenerate docs/images/playground.png: the playground page after a swap, in Debian's chromium
(needs the dev and `local` extras and /usr/bin/chromium; Pillow comes with the `local` extra):

.venv/bin/python docs/images/make_playground.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "images" / "playground.png"
WIDTH = 860  # px; with 256 colours the picture stays near 220 KB


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        shot = Path(scratch) / "page.png"
        test = "tests/e2e/test_playground_browser.py::test_a_single_swap_through_the_page_shows_the_result"
        subprocess.run(  # noqa: S603 - this interpreter running pytest on a fixed test
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
            cwd=ROOT,
            env={**os.environ, "SWAPGATE_PLAYGROUND_SCREENSHOT": str(shot)},
            check=True,
        )
        page = Image.open(shot).convert("RGB")
        page = page.resize((WIDTH, round(page.height * WIDTH / page.width)), Image.Resampling.LANCZOS)
        page.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(OUT, optimize=True)
    print(f"{OUT}: {OUT.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
