"""Cold start of each Lambda function against a bare handler (not a test).

Each sample is a fresh interpreter that imports ``functions/<name>/app.py`` with its module-level
init, as Lambda's init phase does (the function's folder and the layer on ``sys.path``, the template's
environment, a Lambda-like environment so the Tracer is enabled, no network). The bare handler
imports boto3 and the Powertools Logger and makes one client. Samples are interleaved (bare, api,
callback, ... then again) and the median is printed with its ratio to the bare handler's median.

Runs under the Lambda runtime's Python (3.13) when one is found: ``.venv-py313`` (``make test-py313``
makes it) or ``$SWAPGATE_PY313``; else under the current interpreter, and says so. The engine (3.12
on Lambda) is measured the same way: its init loads no MediaPipe or OpenCV (they come with its models
on the first event, which ``bench/bench_engine_function.py`` measures on the built bundle).

    make bench            # or: python bench/cold_start.py [--rounds 15] [--python PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ("api", "callback", "poll", "trigger", "notify", "job_events", "engine")
TARGET_RATIO = 1.25

BARE = """
import boto3
from aws_lambda_powertools import Logger
logger = Logger()
client = boto3.client("dynamodb")
"""

# Timed from inside the child, so interpreter start-up (the same for every function) is left out.
PROBE = """
import sys, time
t0 = time.perf_counter()
{body}
print((time.perf_counter() - t0) * 1000)
"""

# What Lambda and the template put in the environment; no credentials or endpoints are ever used.
LAMBDA_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "cold-start-bench",
    "AWS_SECRET_ACCESS_KEY": "cold-start-bench",
    "AWS_SESSION_TOKEN": "cold-start-bench",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_LAMBDA_FUNCTION_NAME": "swapgate-bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "LAMBDA_TASK_ROOT": "/var/task",  # the Tracer is on, as with Tracing: Active
    "POWERTOOLS_SERVICE_NAME": "swapgate",
    "POWERTOOLS_METRICS_NAMESPACE": "Swapgate",
    "SWAPGATE_BUCKET": "swapgate-bench",
    "SWAPGATE_TABLE": "swapgate-bench",
    "SWAPGATE_NOTIFY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/notify",
    "SWAPGATE_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:poller",
}


def lambda_python() -> tuple[str, str]:
    """(interpreter, how it was chosen): the 3.13 venv if there is one, else this interpreter."""
    for candidate, why in (
        (os.environ.get("SWAPGATE_PY313", ""), "$SWAPGATE_PY313"),
        (str(ROOT / ".venv-py313" / "bin" / "python"), ".venv-py313 (the Lambda runtime's 3.13)"),
    ):
        if candidate and Path(candidate).exists():
            return candidate, why
    return sys.executable, "the current interpreter (no .venv-py313: run make test-py313 for 3.13)"


def sample(python: str, name: str) -> float:
    if name == "bare":
        body, path = BARE, []
    else:
        body, path = "import app", [str(ROOT / "functions" / name)]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "PYTHONPATH": os.pathsep.join([*path, str(ROOT / "functions" / "layer")]),
        "PYTHONDONTWRITEBYTECODE": "",
        **LAMBDA_ENV,
    }
    out = subprocess.run(  # noqa: S603 (our own interpreter and probe)
        [python, "-c", PROBE.format(body=body)], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{name}: import failed\n{out.stderr}")
    return float(out.stdout.strip().splitlines()[-1])


def measure(python: str, rounds: int) -> dict[str, float]:
    names = ["bare", *FUNCTIONS]
    for name in names:  # warm the bytecode caches once; those runs are not counted
        sample(python, name)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            times[name].append(sample(python, name))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--python", help="interpreter to measure (default: 3.13 if found)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    python, why = (args.python, "--python") if args.python else lambda_python()
    version = subprocess.run(  # noqa: S603
        [python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    ).stdout.strip()
    medians = measure(python, args.rounds)
    bare = medians["bare"]
    if args.json:
        print(json.dumps({"python": version, "medians_ms": medians}))
        return
    print(f"cold start (import + init), Python {version} from {why}; median of {args.rounds} rounds")
    print(f"{'function':<10} {'median ms':>10} {'x bare':>7}")
    print(f"{'bare':<10} {bare:>10.1f} {1:>7.2f}")
    for name in FUNCTIONS:
        ratio = medians[name] / bare
        flag = "" if ratio <= TARGET_RATIO else f"  over {TARGET_RATIO}x"
        print(f"{name:<10} {medians[name]:>10.1f} {ratio:>7.2f}{flag}")


if __name__ == "__main__":
    main()
