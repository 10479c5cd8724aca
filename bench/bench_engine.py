"""Benchmark of the local face engine (not a test): one-time initialisation, then detection and swap
latency at 512 px and at about 1500 px, bytes in and bytes out (decode and encode included).

    make bench            # or: .venv/bin/python bench/bench_engine.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

FACES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "faces"


def timed(fn, runs: int) -> dict:
    fn()  # warm-up call (first-use allocations), not counted
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 1),
        "p90_ms": round(samples[min(len(samples) - 1, int(0.9 * len(samples)))], 1),
        "min_ms": round(samples[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    # --- initialisation: importing OpenCV/NumPy/MediaPipe and loading the models, once --------------
    t0 = time.perf_counter()
    from swapgate.engine import FaceEngine

    engine = FaceEngine()
    t1 = time.perf_counter()
    engine.warm_up()
    t2 = time.perf_counter()
    import cv2
    import numpy as np

    astronaut = (FACES / "astronaut.png").read_bytes()
    grace = (FACES / "grace_hopper.jpg").read_bytes()
    two_faces = (FACES / "two_faces.jpg").read_bytes()

    def scaled(data: bytes, side: int, ext: str) -> bytes:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        k = side / max(h, w)
        img = cv2.resize(img, (round(w * k), round(h * k)), interpolation=cv2.INTER_CUBIC)
        return cv2.imencode(ext, img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()

    big_astronaut_png = scaled(astronaut, 1536, ".png")
    big_astronaut_jpg = scaled(astronaut, 1536, ".jpg")
    big_two_faces = scaled(two_faces, 1500, ".jpg")
    first = time.perf_counter()
    engine.swap(astronaut, grace)
    first_swap_ms = (time.perf_counter() - first) * 1000

    runs = args.runs
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "opencv": cv2.__version__},
        "init": {
            "import_ms": round((t1 - t0) * 1000, 1),
            "load_models_ms": round((t2 - t1) * 1000, 1),
            "total_ms": round((t2 - t0) * 1000, 1),
            "first_swap_ms": round(first_swap_ms, 1),
        },
        "detect_512_png (1 face)": timed(lambda: engine.detect(astronaut), runs),
        "detect_948x512_jpg (2 faces)": timed(lambda: engine.detect(two_faces), runs),
        "detect_1536_jpg (1 face)": timed(lambda: engine.detect(big_astronaut_jpg), runs),
        "detect_1500x810_jpg (2 faces)": timed(lambda: engine.detect(big_two_faces), runs),
        "swap_512_png": timed(lambda: engine.swap(astronaut, grace), runs),
        "swap_512x600_jpg": timed(lambda: engine.swap(grace, astronaut), runs),
        "swap_1536_png": timed(lambda: engine.swap(big_astronaut_png, grace), max(5, runs // 2)),
        "swap_1536_jpg": timed(lambda: engine.swap(big_astronaut_jpg, grace), max(5, runs // 2)),
        "multi_swap_1500x810_jpg (2 faces)": timed(
            lambda: engine.multi_swap(big_two_faces, [grace, astronaut], [0, 1]), max(5, runs // 2)
        ),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    m = results["machine"]
    print(f"local face engine benchmark: {m['cpus']} CPUs, Python {m['python']}, OpenCV {m['opencv']}")
    init = results["init"]
    print(
        f"  init: import {init['import_ms']} ms + load models {init['load_models_ms']} ms"
        f" = {init['total_ms']} ms; first swap {init['first_swap_ms']} ms"
    )
    for name, value in results.items():
        if name in ("machine", "init"):
            continue
        print(f"  {name:36s} median {value['median_ms']:7.1f} ms   p90 {value['p90_ms']:7.1f} ms")


if __name__ == "__main__":
    main()
