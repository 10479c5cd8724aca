"""What runs inside the local stack's execution environments: separate processes, as in Lambda.

* ``zygote``: imports the libraries every function shares (``PRELOAD``: the runtime's boto3 and the
  layer's requirements) once, then forks one process per execution environment on request, so a
  cold start pays only for the function's own init. Started by ``environments.Launcher``.
* ``serve``: one execution environment: the function's environment variables, its handler imported
  once (init), then one event at a time from the invoking process until that closes the channel.

Only the standard library is imported at the top (``runtime``, stdlib only too, where it is used:
it imports the launcher, which imports this module): the zygote must not import moto (it patches
botocore) nor code that reads a function's settings at import time.

Wire format: each channel message is one ``multiprocessing.connection`` frame holding JSON. An
environment answers ``{"ready", "init_ms"}`` or ``{"init_error"}`` once, then ``{"result"}`` or
``{"error"}`` per ``{"event", "context"}`` it receives. The zygote's control socket carries
length-prefixed JSON, the spawn requests with the environment's two file descriptors attached.
"""

from __future__ import annotations

import contextlib
import decimal
import importlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

# Imported by the zygote before it forks (missing ones are skipped): what the Lambda runtime
# provides (boto3) and what the layer bundles (functions/layer/requirements.txt), none of which
# reads a function's settings on import. The functions' own code and the swapgate package are not.
PRELOAD = (
    "boto3",
    "botocore.session",
    "requests",
    "pydantic",
    "standardwebhooks",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.tracing",
    "aws_xray_sdk.core",  # what Tracer() imports, even with tracing disabled: half a second
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.openapi.models",  # enable_swagger(): pydantic models
    "aws_lambda_powertools.event_handler.openapi.params",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.parameters",
)

_HEADER = struct.Struct("!I")


# --------------------------------------------------------------------------------- control socket
def send_frame(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Length-prefixed JSON on a stream socket, with ``fds`` attached to its first byte."""
    data = json.dumps(message).encode()
    frame = _HEADER.pack(len(data)) + data
    if fds:
        sent = socket.send_fds(sock, [frame], fds)
        frame = frame[sent:]
    sock.sendall(frame)


def receive_frame(sock: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """One frame sent by ``send_frame`` and the descriptors that came with it; EOFError at the end."""
    head, fds, _flags, _addr = socket.recv_fds(sock, _HEADER.size, 4)
    while head and len(head) < _HEADER.size:
        head += _read(sock, _HEADER.size - len(head))
    if not head:
        raise EOFError("the control socket closed")
    (size,) = _HEADER.unpack(head)
    return json.loads(_read(sock, size)), list(fds)


def _read(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError("the control socket closed mid-frame")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------------- zygote
def zygote(control_fd: int) -> None:
    """Preload, then fork an environment per spawn request until the launcher closes the socket;
    then kill the environments still running and exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the stack, which stops us
    for name in PRELOAD:
        with contextlib.suppress(Exception):  # a function that needs it will say why it fails
            importlib.import_module(name)
    importlib.import_module("swapgate_dev.local.runtime")  # what ``serve`` uses, once for all
    control = socket.socket(fileno=control_fd)
    children: set[int] = set()

    def reap(_signum: int = 0, _frame: object = None) -> None:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)

    signal.signal(signal.SIGCHLD, reap)
    send_frame(control, {"ready": True, "pid": os.getpid()})
    while True:
        try:
            spec, fds = receive_frame(control)
        except (EOFError, OSError):
            break
        sys.stdout.flush()
        sys.stderr.flush()
        # SIGCHLD waits until the child is in ``children``, so a quick exit is not missed.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            try:
                serve(spec, Connection(fds[0]), fds[1])
            finally:  # a handler's SystemExit must not run the zygote's loop in the child
                os._exit(1)
        for fd in fds:
            os.close(fd)
        children.add(pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        send_frame(control, {"pid": pid})
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for pid in list(children):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def spawned(channel_fd: int) -> None:
    """An environment started as a fresh Python process: its spec is the channel's first frame,
    its output already goes to the launcher's pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = Connection(channel_fd)
    spec = json.loads(channel.recv_bytes())
    serve(spec, channel, None)


# --------------------------------------------------------------------------------- environment
def _exit_when_orphaned(parent: int) -> None:
    """The launcher (or zygote) died without closing our channel, e.g. while we were busy."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _decimal(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):  # as the Python runtime's marshaller does
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _reply(result: Any) -> bytes:
    try:
        return json.dumps({"result": result}, default=_decimal).encode()
    except (TypeError, ValueError) as exc:
        error = {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError"}
        return json.dumps({"error": error}).encode()


def _log_error(exc: BaseException, prefix: str = "") -> None:
    """The unhandled error as the Python runtime logs it: one write, so it stays together."""
    text = "".join(traceback.format_exception(exc))
    sys.stderr.write(f"{prefix}[ERROR] {type(exc).__name__}: {exc}\n{text}")
    sys.stderr.flush()


def serve(spec: dict[str, Any], channel: Connection, log_fd: int | None) -> NoReturn:
    """Run one execution environment; never returns."""
    from swapgate_dev.local.runtime import LambdaContext, error_payload, load_handler

    if log_fd is not None:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    os.environ.clear()
    os.environ.update(spec["env"])
    _exit_when_orphaned(os.getppid())
    started = time.perf_counter()
    try:
        handler = load_handler(Path(spec["handler_file"]), spec["handler_name"], spec["module_name"])
    except BaseException as exc:
        _log_error(exc, "INIT ")
        payload = error_payload(exc)
        if isinstance(exc, ImportError):  # as the Python runtime names it
            module = Path(spec["handler_file"]).stem
            payload.update(
                errorType="Runtime.ImportModuleError",
                errorMessage=f"Unable to import module '{module}': {exc}",
            )
        channel.send_bytes(json.dumps({"init_error": payload}).encode())
        os._exit(1)
    init_ms = (time.perf_counter() - started) * 1000
    channel.send_bytes(json.dumps({"ready": True, "pid": os.getpid(), "init_ms": init_ms}).encode())
    while True:
        try:
            request = json.loads(channel.recv_bytes())
        except (EOFError, OSError):
            os._exit(0)
        context = LambdaContext(**request["context"], log_stream_name=spec["log_stream_name"])
        try:
            result = handler(request["event"], context)
        except Exception as exc:
            if exc.__traceback__ is not None:  # from the handler's frame on, as Lambda reports it
                exc = exc.with_traceback(exc.__traceback__.tb_next)
            _log_error(exc)
            reply = json.dumps({"error": error_payload(exc, context.aws_request_id)}).encode()
        else:
            reply = _reply(result)
        sys.stdout.flush()
        sys.stderr.flush()
        channel.send_bytes(reply)
