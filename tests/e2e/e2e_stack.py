"""Start and stop the whole local stack as a subprocess (``python -m swapgate_dev.local``) on free
loopback ports, and reach it only through its public faces: HTTP and S3."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import requests
from botocore.config import Config
from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi
from swapgate_dev.local.settings import new_webhook_secret

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "tests" / "fixtures" / "faces"
API_KEY = "e2e-client-key"
PROVIDER_KEY = "e2e-provider-key"
STARTUP_TIMEOUT = 90
TERMINAL = {"succeeded", "failed", "timed_out", "canceled"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` again (SO_REUSEADDR, as servers bind)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class RunningStack:
    process: subprocess.Popen
    api_url: str
    aws_url: str
    api_port: int
    aws_port: int
    webhook_secret: str
    bucket: str
    ready_seconds: float  # spawn to the "ready" line
    reported_seconds: float  # what the stack itself reports
    output: list[str] = field(default_factory=list)

    def headers(self, **extra: str) -> dict[str, str]:
        return {"x-api-key": API_KEY, **extra}

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.api_url + path, headers=self.headers(), timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return requests.post(self.api_url + path, headers=headers, timeout=60, **kwargs)

    def wait_for_job(self, job_id: str, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/v1/swaps/{job_id}")
            assert response.status_code == 200, response.text
            job = response.json()
            if job["status"] in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s\n{self.tail()}")
            time.sleep(0.5)

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.aws_url,
            region_name="us-east-1",
            aws_access_key_id="anything",
            aws_secret_access_key="anything",
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
        )

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output[-lines:])


def _drain(stream, sink: list[str], ready: threading.Event) -> None:
    for raw in iter(stream.readline, ""):
        line = raw.rstrip("\n")
        sink.append(line)
        if line.startswith("ready"):
            ready.set()
    ready.set()  # the stream ended: the process died


def start_stack(extra_env: dict[str, str] | None = None) -> RunningStack:
    api_port, aws_port = free_port(), free_port()
    secret = new_webhook_secret()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SWAPGATE_API_PORT": str(api_port),
        "SWAPGATE_AWS_PORT": str(aws_port),
        "SWAPGATE_API_KEYS": API_KEY,
        "SWAPGATE_WEBHOOK_SECRET": secret,
        "SWAPGATE_BUCKET": "swapgate-e2e",
        "SWAPGATE_TABLE": "swapgate-e2e-jobs",
        "SWAPGATE_RATE_LIMIT_PER_MINUTE": "100000",
        **(extra_env or {}),
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "SWAPGATE_PUBLIC_URL", "MOTO_PORT"):
        env.pop(name, None)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "swapgate_dev.local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    output: list[str] = []
    ready = threading.Event()
    threading.Thread(target=_drain, args=(process.stdout, output, ready), daemon=True).start()
    if not ready.wait(STARTUP_TIMEOUT) or process.poll() is not None:
        process.kill()
        process.wait(10)
        raise AssertionError("the local stack did not get ready:\n" + "\n".join(output[-60:]))
    ready_seconds = time.monotonic() - started
    reported = next(line for line in output if line.startswith("ready"))
    return RunningStack(
        process=process,
        api_url=f"http://127.0.0.1:{api_port}",
        aws_url=f"http://127.0.0.1:{aws_port}",
        api_port=api_port,
        aws_port=aws_port,
        webhook_secret=secret,
        bucket="swapgate-e2e",
        ready_seconds=ready_seconds,
        reported_seconds=float(reported.split()[2]),
        output=output,
    )


def stop_stack(stack: RunningStack, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
    if stack.process.poll() is None:
        stack.process.send_signal(signum)
    try:
        return stack.process.wait(timeout)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        stack.process.wait(10)
        raise AssertionError(f"the stack did not stop within {timeout}s:\n{stack.tail()}") from None


def fakes_env(
    fake_ttapi: FakeTtapi, fake_aifaceswap: FakeAifaceswap, default_provider: str
) -> dict[str, str]:
    """Both fakes configured, ``default_provider`` the default, a short poller (first poll after
    1 s, then every 1-2 s, deadline 15 s)."""
    return {
        "SWAPGATE_PROVIDER": default_provider,
        "TTAPI_API_KEY": PROVIDER_KEY,
        "TTAPI_BASE_URL": fake_ttapi.base_url,
        "AIFACESWAP_API_KEY": PROVIDER_KEY,
        "AIFACESWAP_BASE_URL": fake_aifaceswap.base_url,
        "SWAPGATE_POLL_INITIAL_SECONDS": "1",
        "SWAPGATE_POLL_INTERVAL_SECONDS": "1",
        "SWAPGATE_POLL_MAX_INTERVAL_SECONDS": "2",
        "SWAPGATE_JOB_TIMEOUT_SECONDS": "15",
    }
