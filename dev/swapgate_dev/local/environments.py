"""Execution environments as processes: the ``Launcher`` that starts them and the ``Environment``
handle the invoking side holds (``worker`` is the code on the other side).

On Linux the launcher forks environments from a zygote process that has the shared libraries
imported already (``worker.PRELOAD``): a cold start costs the function's own init only (about
0.05-0.2 s for Swapgate's functions instead of 1.5-2.5 s with the imports). Elsewhere
(``fork=False``; fork is unsafe on macOS once system frameworks are loaded) each environment is a
fresh Python process. The zygote boots on ``start()`` (it returns at once) or the first spawn. An
environment's output (its logs) is relayed whole lines at a time to ``sink``. ``stop()`` kills every
environment: none outlives the launcher, and the zygote kills its children by itself when the
launcher's process dies (an environment whose parent died exits too).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from swapgate_dev.local.worker import receive_frame, send_frame

log = logging.getLogger("swapgate_dev.local.runtime")

Sink = Callable[[str], None]

# ``python -c`` entry points: the launcher's import path first, so the worktree's code is the code run.
_BOOT = (
    "import json, os, sys; sys.path[:] = json.loads(os.environ.pop('SWAPGATE_LOCAL_SYS_PATH')); "
    "from swapgate_dev.local.worker import {entry}; {entry}(int(sys.argv[1]))"
)

_stderr_lock = threading.Lock()


def stderr_sink(text: str) -> None:
    """Write an environment's output to this process's stderr (whole lines, one writer at a time)."""
    with _stderr_lock:
        sys.stderr.write(text)
        sys.stderr.flush()


class LaunchError(RuntimeError):
    """No environment could be started (the launcher is stopped, or the zygote died)."""


class EnvironmentTimeout(Exception):
    """The environment did not answer in time (it has been killed)."""


class EnvironmentDied(RuntimeError):
    """The environment's process exited while it owed an answer."""


class InitError(RuntimeError):
    """The handler's init (its module import) raised; ``payload`` is the error as Lambda reports it."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage", "init failed"))
        self.payload = payload


def _relay(fd: int, sink: Sink, done: Callable[[], None]) -> None:
    """Copy an environment's output to ``sink`` in whole-line chunks until it closes."""
    pending = b""
    try:
        while chunk := os.read(fd, 65536):
            pending += chunk
            cut = pending.rfind(b"\n") + 1
            if cut:
                sink(pending[:cut].decode("utf-8", errors="replace"))
                pending = pending[cut:]
        if pending:
            sink(pending.decode("utf-8", errors="replace") + "\n")
    except OSError:
        pass
    finally:
        os.close(fd)
        done()


class Environment:
    """One execution environment (a process) seen from the invoking side: one request at a time."""

    def __init__(
        self,
        label: str,
        pid: int,
        channel: Connection,
        log_fd: int,
        sink: Sink,
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.label = label
        self.pid = pid
        self.config: dict[str, str] = {}  # the function's settings it started with (set by its pool)
        self.init_ms = 0.0
        self.invocations = 0
        self._channel = channel
        self._process = process
        self._exited = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(
            target=_relay, args=(log_fd, sink, self._on_exit), name=f"logs-{label}", daemon=True
        ).start()

    def _on_exit(self) -> None:
        if self._process is not None:
            self._process.wait()
        self._exited.set()

    @property
    def alive(self) -> bool:
        return not self._exited.is_set() and not self._channel.closed

    def _receive(self, timeout: float) -> dict[str, Any]:
        try:
            if not self._channel.poll(max(0.0, timeout)):
                self.kill()
                raise EnvironmentTimeout(f"{self.label} gave no answer within {timeout:.2f} s")
            return json.loads(self._channel.recv_bytes())
        except (EOFError, OSError) as exc:
            self.kill()
            raise EnvironmentDied(f"{self.label} exited") from exc

    def wait_ready(self, timeout: float) -> None:
        """Wait for init to end; ``InitError`` when it raised (the environment is gone then)."""
        answer = self._receive(timeout)
        if "init_error" in answer:
            self.kill()
            raise InitError(answer["init_error"])
        self.init_ms = float(answer.get("init_ms", 0.0))

    def invoke(self, request: bytes, timeout: float) -> dict[str, Any]:
        """Send one invocation and wait up to ``timeout`` seconds for its answer."""
        self.invocations += 1
        try:
            self._channel.send_bytes(request)
        except OSError as exc:
            self.kill()
            raise EnvironmentDied(f"{self.label} exited") from exc
        return self._receive(timeout)

    def kill(self) -> None:
        """Stop the process now (SIGKILL, as Lambda ends a timed-out environment)."""
        with self._lock:
            if not self._exited.is_set():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            if not self._channel.closed:
                self._channel.close()

    def wait_exited(self, timeout: float) -> bool:
        return self._exited.wait(timeout)


class Launcher:
    """Starts execution environments; ``stop()`` ends them all (and the zygote) for good."""

    def __init__(
        self, *, fork: bool | None = None, sink: Sink = stderr_sink, ready_timeout: float = 60
    ) -> None:
        self.fork = sys.platform == "linux" if fork is None else fork
        self.sink = sink
        self.ready_timeout = ready_timeout
        self._lock = threading.Lock()
        self._zygote: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._zygote_ready = False
        self._environments: list[Environment] = []
        self._stopped = False

    def _python(self, entry: str, fd: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, "SWAPGATE_LOCAL_SYS_PATH": json.dumps([p for p in sys.path if p])}
        return subprocess.Popen(
            [sys.executable, "-c", _BOOT.format(entry=entry), str(fd)],
            pass_fds=(fd,),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=None if entry == "zygote" else subprocess.PIPE,
            stderr=None if entry == "zygote" else subprocess.STDOUT,
        )

    @property
    def zygote_pid(self) -> int | None:
        with self._lock:
            return self._zygote.pid if self._zygote is not None else None

    @property
    def pids(self) -> list[int]:
        """The zygote's and the live environments' process ids."""
        with self._lock:
            zygote = [self._zygote.pid] if self._zygote is not None and self._zygote.poll() is None else []
            return zygote + [environment.pid for environment in self._environments if environment.alive]

    def start(self) -> Launcher:
        """Boot the zygote now, in the background (a no-op without fork, or when it runs)."""
        with self._lock:
            self._boot()
        return self

    def _boot(self) -> None:
        if self._stopped:
            raise LaunchError("the launcher is stopped")
        if not self.fork or (self._zygote is not None and self._zygote.poll() is None):
            return
        if self._control is not None:
            self._control.close()
        ours, theirs = socket.socketpair()
        with theirs:
            self._zygote = self._python("zygote", theirs.fileno())
        self._control, self._zygote_ready = ours, False

    def spawn(self, label: str, spec: dict[str, Any], init_timeout: float) -> Environment:
        """A new environment running ``spec`` (see ``worker.serve``), its init done."""
        ours, theirs = socket.socketpair()
        process = None
        try:
            with self._lock:
                self._boot()
                if self.fork:
                    log_read, log_write = os.pipe()
                    try:
                        pid = self._fork(spec, [theirs.fileno(), log_write])
                    except BaseException:
                        os.close(log_read)
                        raise
                    finally:
                        os.close(log_write)
                else:
                    process = self._python("spawned", theirs.fileno())
                    pid = process.pid
                    assert process.stdout is not None
                    log_read = os.dup(process.stdout.fileno())
                    process.stdout.close()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        channel = Connection(ours.detach())
        if process is not None:
            channel.send_bytes(json.dumps(spec).encode())
        environment = Environment(label, pid, channel, log_read, self.sink, process)
        with self._lock:
            self._environments = [e for e in self._environments if e.alive]
            self._environments.append(environment)
            if self._stopped:
                environment.kill()
        environment.wait_ready(init_timeout)
        return environment

    def _fork(self, spec: dict[str, Any], fds: list[int]) -> int:
        assert self._control is not None and self._zygote is not None
        try:
            if not self._zygote_ready:
                self._control.settimeout(self.ready_timeout)
                ready, _ = receive_frame(self._control)
                self._control.settimeout(None)
                self._zygote_ready = bool(ready.get("ready"))
            send_frame(self._control, spec, fds)
            answer, _ = receive_frame(self._control)
        except (OSError, EOFError) as exc:
            self._zygote.kill()
            raise LaunchError(f"the environment launcher failed: {exc}") from exc
        return int(answer["pid"])

    def stop(self, timeout: float = 10) -> None:
        """Kill every environment and the zygote; later spawns fail."""
        self._stopped = True
        control = self._control
        if control is not None:  # wakes a spawn waiting on the zygote, which holds the lock
            with contextlib.suppress(OSError):
                control.shutdown(socket.SHUT_RDWR)
        with self._lock:
            self._stopped = True
            environments, self._environments = self._environments, []
            control, self._control = self._control, None
            zygote, self._zygote = self._zygote, None
        for environment in environments:
            environment.kill()
        if control is not None:
            control.close()  # the zygote kills what is left of its children and exits
        if zygote is not None:
            try:
                zygote.wait(timeout)
            except subprocess.TimeoutExpired:
                zygote.kill()
                zygote.wait()
        for environment in environments:
            environment.wait_exited(timeout)


_default: Launcher | None = None
_default_lock = threading.Lock()


def default_launcher() -> Launcher:
    """The launcher of functions built without one (stopped when this process exits)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Launcher()
            atexit.register(_default.stop)
        return _default
