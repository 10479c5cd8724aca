"""``python -m swapgate_dev.local``: the whole Swapgate stack in the foreground (``make dev``).

Ctrl-C (SIGINT) or SIGTERM stops every part: the API, the SQS pollers, running poller executions,
every function's execution environments (processes) and local AWS; the process then exits with
nothing left listening or running.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings

from swapgate.providers.registry import PROVIDERS

from swapgate_dev.local.settings import DEFAULT_PROVIDER, LocalSettings
from swapgate_dev.local.stack import LocalStack

_PROVIDER_VARIABLES = ", ".join(" / ".join(spec.variables) for spec in PROVIDERS.values() if spec.variables)
ENVIRONMENT_HELP = f"""\
environment (each overrides a default):
  SWAPGATE_API_PORT (3000)  SWAPGATE_AWS_PORT (4566)  SWAPGATE_BUCKET (swapgate-local)
  SWAPGATE_TABLE (swapgate-local-jobs)  SWAPGATE_API_KEYS (local-dev-key)  SWAPGATE_PROVIDER ({DEFAULT_PROVIDER})
  SWAPGATE_PUBLIC_URL (the API URL; a tunnel for real providers' callbacks)
  SWAPGATE_SIGNING_SECRET, SWAPGATE_WEBHOOK_SECRET (random per run)
  SWAPGATE_POLL_INITIAL_SECONDS (5)  SWAPGATE_POLL_INTERVAL_SECONDS (5)
  SWAPGATE_POLL_MAX_INTERVAL_SECONDS (15)  SWAPGATE_JOB_TIMEOUT_SECONDS (120)
  SWAPGATE_LOCAL_CONCURRENCY (10: execution environments per function; beyond, events wait.
    A function's ReservedConcurrentExecutions in the template is its limit instead, and
    Lambda's throttling applies: API 500, Invoke 429, SQS messages retried)
  {_PROVIDER_VARIABLES} (enable those providers)
  SWAPGATE_C2PA_PEM_FILE (unset: results carry no C2PA manifest; a PEM file with a certificate chain
    and its private key: they are signed with it, as the C2paSigningSecret parameter does on AWS),
    SWAPGATE_C2PA_ALG (es256: the key's algorithm)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m swapgate_dev.local",
        description="Run Swapgate locally: local AWS (moto), the API, the poller, the S3 trigger, webhooks.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every AWS call and more")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)

    # Handlers that record no metric in an invocation are normal here; Powertools warns each time
    # (in the functions' execution environments too: they are started with this environment).
    quiet = "ignore:No application metrics to publish"
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), quiet]))

    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    try:
        settings = LocalSettings.from_env()
    except ValueError as exc:
        print(f"swapgate local: {exc}", file=sys.stderr)
        return 2
    stack = LocalStack(settings)
    try:
        stack.start()
    except OSError as exc:
        print(f"swapgate local: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        print(stack.banner(), flush=True)
        print(f"ready in {stack.startup_seconds:.1f} s (Ctrl-C stops everything)", flush=True)
        while not stop.wait(0.5):
            pass
        print("stopping...", file=sys.stderr, flush=True)
    finally:
        stack.stop()
    print("stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
