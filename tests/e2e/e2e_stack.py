"""What the end-to-end tests share: the stack they start (``swapgate_dev.local.running`` with their
settings), the fakes' settings, and checks that a stopped stack left nothing behind."""

from __future__ import annotations

import socket
from pathlib import Path

from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi
from swapgate_dev.local import running as local_stack
from swapgate_dev.local.running import RunningStack

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "tests" / "fixtures" / "faces"
API_KEY = "e2e-client-key"
PROVIDER_KEY = "e2e-provider-key"


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` again (SO_REUSEADDR, as servers bind)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs, from /proc (Linux)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def running(pids: list[int]) -> list[int]:
    """Those of ``pids`` that still run (a zombie has ended)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def start_stack(extra_env: dict[str, str] | None = None) -> RunningStack:
    """The stack for the end-to-end tests: their client key, bucket and table, a rate limit no test
    reaches, then ``extra_env``."""
    env = {
        "SWAPGATE_BUCKET": "swapgate-e2e",
        "SWAPGATE_TABLE": "swapgate-e2e-jobs",
        "SWAPGATE_RATE_LIMIT_PER_MINUTE": "100000",
        **(extra_env or {}),
    }
    return local_stack.start_stack(API_KEY, env)


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
