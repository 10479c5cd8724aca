"""`make faults`: the fault-injection suite with a given number of schedules, split over processes.

    python tests/faults/run_faults.py SCHEDULES [--processes J] [--first-seed S]

Each process runs ``tests/faults`` over its own range of seeds (the first also runs the checks' own
tests); their outputs go to ``.faults/part-<i>.log``. The last line printed is the summary of all
parts together, in the suite's own words:
``faults: N schedules, K faults injected, 0 lost jobs, 0 lost notifications, 0 orphan results, 0 double results``.
The exit status is the first failing part's, else 0.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(
    r"faults: (\d+) schedules, (\d+) faults injected, (\d+) lost jobs, (\d+) lost notifications, "
    r"(\d+) orphan results, (\d+) double results"
)
WORDS = (
    "schedules",
    "faults injected",
    "lost jobs",
    "lost notifications",
    "orphan results",
    "double results",
)


def split(total: int, parts: int, first: int) -> list[tuple[int, int]]:
    """``parts`` (first seed, count) ranges covering ``total`` seeds from ``first``."""
    size, extra = divmod(total, parts)
    ranges, seed = [], first
    for index in range(parts):
        count = size + (1 if index < extra else 0)
        if count:
            ranges.append((seed, count))
        seed += count
    return ranges


def combined(lines: list[str]) -> str:
    sums = [0] * len(WORDS)
    for line in lines:
        found = SUMMARY.fullmatch(line.strip())
        if found is None:
            raise ValueError(f"not a summary line: {line!r}")
        sums = [a + int(b) for a, b in zip(sums, found.groups(), strict=True)]
    return "faults: " + ", ".join(f"{n} {word}" for n, word in zip(sums, WORDS, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("schedules", type=int)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.schedules < 1 or args.processes < 1:
        parser.error("schedules and processes must be at least 1")
    logs = ROOT / ".faults"
    logs.mkdir(exist_ok=True)
    parts = []
    for index, (seed, count) in enumerate(split(args.schedules, args.processes, args.first_seed)):
        summary, log = logs / f"part-{index}.summary", logs / f"part-{index}.log"
        summary.unlink(missing_ok=True)
        env = {
            **os.environ,
            "SWAPGATE_FAULT_SCHEDULES": str(count),
            "SWAPGATE_FAULT_SEED": str(seed),
            "SWAPGATE_FAULT_SUMMARY": str(summary),
        }
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-s", "tests/faults"]
        if index:  # the checks' own tests once
            command += ["-k", "no_schedule"]
        print(f"part {index}: seeds {seed}..{seed + count - 1}, log {log.relative_to(ROOT)}", flush=True)
        with log.open("w") as out:
            parts.append(
                (
                    subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT),
                    summary,
                    log,
                )
            )
    status, lines = 0, []
    for index, (process, summary, log) in enumerate(parts):
        code = process.wait()
        tail = [
            line for line in log.read_text(errors="replace").splitlines() if not line.startswith('{"_aws"')
        ]
        print(f"--- part {index} (exit {code}) ---", *tail[-12:], sep="\n", flush=True)
        status = status or code
        if summary.exists():
            lines.append(summary.read_text())
        else:
            status = status or 1
            print(f"part {index} wrote no summary", flush=True)
    print(combined(lines) if lines else "faults: no part finished")
    return status


if __name__ == "__main__":
    sys.exit(main())
