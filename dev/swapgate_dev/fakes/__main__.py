"""Run one fake in the foreground: ``python -m swapgate_dev.fakes {aifaceswap|ttapi} --port N``.

Prints one line ``<name> <base_url>`` to stdout once listening, then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from swapgate.providers.registry import provider_spec

from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi

FAKES = {"aifaceswap": FakeAifaceswap, "ttapi": FakeTtapi}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swapgate_dev.fakes", description=__doc__)
    parser.add_argument("provider", choices=sorted(FAKES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", help="the accepted key (default: $<PROVIDER>_API_KEY or test-key)")
    parser.add_argument("--delay", type=float, default=2.0, help="seconds until a job finishes")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    cls = FAKES[args.provider]
    api_key = args.api_key or os.environ.get(provider_spec(args.provider).key_var or "") or "test-key"
    fake = cls(api_key=api_key, delay=args.delay, host=args.host, port=args.port)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    with fake:
        print(f"{args.provider} {fake.base_url}", flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
