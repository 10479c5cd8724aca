"""Benchmark of the EngineFunction as it ships (not a test): its unzipped size against Lambda's limit, its
cold start (imports, then the first job, which loads the models) and the time per job, through its
handler in a separate python3.12 with only the bundle on ``sys.path``, reading and writing a local S3
(moto) as it does on AWS; and the process's peak memory. The figures behind its MemorySize and Timeout.

    make bench      # or: .venv/bin/python bench/bench_engine_function.py [--runs N] [--bundle DIR]

The bundle is ``.aws-sam/build/EngineFunction`` after ``make build``, else built into a temporary
folder by the same Makefile target.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import boto3
import cv2
import numpy as np
from swapgate.providers.base import ImageInput
from swapgate.providers.builtin import BuiltinProvider
from swapgate.providers.builtin_dispatch import LambdaDispatch
from swapgate_dev.engine_function import (
    LAMBDA_UNZIPPED_LIMIT,
    REPO_ROOT,
    EngineProcess,
    build,
    find_python312,
    python_version,
    runtime_dir,
    size_bytes,
)
from swapgate_dev.local.aws import MotoServer

FACES = REPO_ROOT / "tests" / "fixtures" / "faces"
BUCKET = "swapgate-bench"
MB = 1000 * 1000


def scaled(data: bytes, size: tuple[int, int], ext: str) -> bytes:
    """The photo resized to fit ``size`` (width, height), centred on a grey canvas of that size."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    k = min(size[0] / w, size[1] / h)
    img = cv2.resize(img, (round(w * k), round(h * k)), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((size[1], size[0], 3), 128, np.uint8)
    y, x = (size[1] - img.shape[0]) // 2, (size[0] - img.shape[1]) // 2
    canvas[y : y + img.shape[0], x : x + img.shape[1]] = img
    return cv2.imencode(ext, canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--bundle", type=Path, help="a built EngineFunction folder")
    args = parser.parse_args()

    python = find_python312()
    if python is None:
        print("engine function benchmark: no python3.12 on this machine (the function's runtime), not run")
        return
    with tempfile.TemporaryDirectory(prefix="swapgate-engine-bench-") as work:
        run(args, python, Path(work))


def run(args: argparse.Namespace, python: str, work: Path) -> None:
    bundle = args.bundle or REPO_ROOT / ".aws-sam" / "build" / "EngineFunction"
    if not (bundle / "engine" / "app.py").is_file():
        started = time.perf_counter()
        bundle = build(work / "EngineFunction", python)
        print(f"  built the bundle in {time.perf_counter() - started:.1f} s")
    size = size_bytes(bundle)
    print(
        f"engine function benchmark: {os.cpu_count()} CPUs, Python {python_version(python)}, bundle {bundle}"
    )
    print(
        f"  unzipped size       {size / MB:6.1f} MB ({size / 2**20:.1f} MiB) of Lambda's "
        f"{LAMBDA_UNZIPPED_LIMIT / 2**20:.0f} MiB: {100 * size / LAMBDA_UNZIPPED_LIMIT:.0f}%, "
        f"margin {(LAMBDA_UNZIPPED_LIMIT - size) / 2**20:.1f} MiB"
    )

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log
    moto = MotoServer("127.0.0.1", 0)
    moto.start()
    env = {  # moto's dummy credentials
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto.url,
        "SWAPGATE_BUCKET": BUCKET,
    }
    os.environ.update(env)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    started = time.perf_counter()
    process = EngineProcess(bundle, python, env, runtime_dir(work / "runtime"))
    started_seconds = time.perf_counter() - started
    client = process.lambda_client()
    provider = BuiltinProvider(bucket=BUCKET, s3=s3, dispatch=LambdaDispatch("bench", client=client))
    try:
        astronaut = (FACES / "astronaut.png").read_bytes()
        grace = (FACES / "grace_hopper.jpg").read_bytes()
        two_faces = (FACES / "two_faces.jpg").read_bytes()

        def job(source: bytes, face: bytes) -> float:
            provider.swap(ImageInput.from_bytes(source), ImageInput.from_bytes(face))
            return client.last_seconds * 1000

        first_ms = job(astronaut, grace)
        print(
            f"  cold start          process + imports {started_seconds:.2f} s "
            f"(imports {process.import_seconds:.2f} s); first job {first_ms / 1000:.2f} s (loads the models)"
        )
        cases = {  # name: (source, face, large)
            "swap 512x512 PNG": (astronaut, grace, False),
            "swap 512x600 JPEG": (grace, astronaut, False),
            "swap 1536x1536 JPEG": (scaled(astronaut, (1536, 1536), ".jpg"), grace, False),
            "swap 4000x3000 JPEG (12 MP)": (scaled(astronaut, (4000, 3000), ".jpg"), grace, True),
            "swap 6000x4000 JPEG (24 MP)": (scaled(astronaut, (6000, 4000), ".jpg"), grace, True),
            "swap 8000x8000 JPEG (64 MP)": (scaled(astronaut, (8000, 8000), ".jpg"), grace, True),
        }
        for name, (source, face, large) in cases.items():
            runs = max(3, args.runs // 3) if large else args.runs
            samples = sorted(job(source, face) for _ in range(runs))
            print(
                f"  {name:28s} median {statistics.median(samples):7.0f} ms   max {samples[-1]:7.0f} ms  ({runs} jobs)"
            )
        multi = provider.multi_swap(
            ImageInput.from_bytes(two_faces),
            [ImageInput.from_bytes(grace), ImageInput.from_bytes(astronaut)],
            [0, 1],
        )
        print(f"  multi-swap 948x512, 2 faces  {client.last_seconds * 1000:7.0f} ms ({multi.job_id})")
        facts = process.facts()
        print(
            f"  peak memory (RSS)   {facts['peak_rss_mb']:.0f} MB (the largest picture the engine takes: 64 MP)"
        )
    finally:
        process.close()
        s3.close()
        moto.stop()


if __name__ == "__main__":
    main()
