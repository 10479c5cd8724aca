"""The whole local stack as a subprocess (``python -m swapgate_dev.local``) on free loopback ports,
for the end-to-end tests and the benchmarks: start it, wait for its "ready" line, reach it through
its public faces (HTTP and S3), stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import boto3
import requests
from botocore.config import Config
from swapgate.jobs import TERMINAL

from swapgate_dev.local.settings import DEFAULT_BUCKET, REPO_ROOT, new_webhook_secret

STARTUP_TIMEOUT = 90
# Inherited settings that would point the stack elsewhere than its own free ports and local AWS.
NOT_INHERITED = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "SWAPGATE_PUBLIC_URL", "MOTO_PORT")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningStack:
    process: subprocess.Popen
    api_url: str
    aws_url: str
    api_port: int
    aws_port: int
    api_key: str
    webhook_secret: str
    bucket: str
    ready_seconds: float  # spawn to the "ready" line
    reported_seconds: float  # what the stack itself reports
    output: list[str] = field(default_factory=list)  # stdout (and stderr unless discarded), by line

    def headers(self, **extra: str) -> dict[str, str]:
        return {"x-api-key": self.api_key, **extra}

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
            aws_secret_access_key="anything",  # noqa: S106 - moto's dummy credentials
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


def start_stack(
    api_key: str,
    env: Mapping[str, str] | None = None,
    *,
    stderr: int = subprocess.STDOUT,
    timeout: float = STARTUP_TIMEOUT,
) -> RunningStack:
    """Start the stack with this process's environment, free ports, ``api_key`` as its only client
    key, a new webhook secret, then ``env`` on top; return once it prints "ready". ``stderr``:
    ``subprocess.DEVNULL`` keeps the stack's logs out of ``output``. Raises ``AssertionError``
    with the output's end if it is not ready within ``timeout`` seconds."""
    api_port, aws_port = free_port(), free_port()
    full_env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SWAPGATE_API_PORT": str(api_port),
        "SWAPGATE_AWS_PORT": str(aws_port),
        "SWAPGATE_API_KEYS": api_key,
        "SWAPGATE_WEBHOOK_SECRET": new_webhook_secret(),
        **(env or {}),
    }
    for name in NOT_INHERITED:
        full_env.pop(name, None)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "swapgate_dev.local"],
        cwd=REPO_ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        bufsize=1,
        start_new_session=True,  # its own process group, as a command in a terminal has
    )
    output: list[str] = []
    ready = threading.Event()
    threading.Thread(target=_drain, args=(process.stdout, output, ready), daemon=True).start()
    if not ready.wait(timeout) or process.poll() is not None:
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
        api_key=api_key,
        webhook_secret=full_env["SWAPGATE_WEBHOOK_SECRET"],
        bucket=full_env.get("SWAPGATE_BUCKET") or DEFAULT_BUCKET,
        ready_seconds=ready_seconds,
        reported_seconds=float(reported.split()[2]),
        output=output,
    )


def stop_stack(
    stack: RunningStack, signum: int = signal.SIGTERM, timeout: float = 30, group: bool = False
) -> int:
    """Signal the stack (``group``: its whole process group, as Ctrl-C in a terminal does) and wait."""
    if stack.process.poll() is None:
        if group:
            os.killpg(stack.process.pid, signum)
        else:
            stack.process.send_signal(signum)
    try:
        return stack.process.wait(timeout)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        stack.process.wait(10)
        raise AssertionError(f"the stack did not stop within {timeout}s:\n{stack.tail()}") from None
