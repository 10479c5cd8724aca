"""The EngineFunction's bundle, built and run on this machine the way Lambda runs it (tests and bench).

* ``build(out, python)``: ``functions/engine/Makefile``'s ``build-EngineFunction`` (the target ``sam
  build`` runs: same requirements file, same trimming) for ``python``'s version. With a python3.12
  (``find_python312()``) that is byte for byte the bundle that ships; otherwise the same package
  list for this machine's Python.
* ``EngineProcess(bundle, python, env)``: a separate interpreter with only the bundle and the Lambda
  runtime's own packages (boto3 and what it needs, linked from this venv) on ``sys.path`` (``-S``: no
  site-packages), running ``engine.app.handler``. ``invoke(event)`` sends one event and returns the
  handler's answer; ``lambda_client()`` gives a stand-in for boto3's Lambda client, so the ``builtin``
  provider's ``LambdaDispatch`` can invoke it.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = REPO_ROOT / "functions" / "engine" / "Makefile"
REQUIREMENTS = REPO_ROOT / "functions" / "engine" / "requirements.txt"
#: Lambda's limit for a function and its layers, unzipped (its error message says 262144000 bytes)
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
#: what the python3.12 runtime brings besides the standard library, which the bundle leaves out
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "dateutil", "six.py")

_DRIVER = r"""
import json, resource, sys, time
started = time.perf_counter()
from engine.app import handler
imported = time.perf_counter() - started


class Context:
    function_name = "swapgate-EngineFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:swapgate-EngineFunction"
    memory_limit_in_mb = 2048
    aws_request_id = "engine-function-test"
    log_group_name = "/aws/lambda/swapgate-EngineFunction"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self):
        return 60000


def answer(value):
    sys.stdout.write("ANSWER " + json.dumps(value) + "\n")
    sys.stdout.flush()


answer({"import_seconds": imported})
for line in sys.stdin:
    event = json.loads(line)
    if event == "__facts__":
        modules = sorted({name.split(".")[0] for name in sys.modules})
        files = {name: getattr(sys.modules.get(name), "__file__", None) for name in ("cv2", "numpy", "mediapipe", "swapgate")}
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        answer({"modules": modules, "files": files, "path": sys.path, "peak_rss_mb": rss_mb})
        continue
    start = time.perf_counter()
    try:
        result = {"answer": handler(event, Context())}
    except Exception as exc:
        result = {"raised": type(exc).__name__, "message": str(exc)}
    result["seconds"] = time.perf_counter() - start
    answer(result)
"""


def find_python312() -> str | None:
    """A working python3.12 (the EngineFunction's runtime), from PATH or pyenv; ``None`` if none."""
    candidates = ["python3.12"]
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates += sorted(str(p) for p in pyenv_root.glob("versions/3.12*/bin/python3.12"))
    for candidate in candidates:
        try:
            subprocess.run([candidate, "-c", ""], check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        return candidate
    return None


def python_version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.strip()


def build(out: Path, python: str, *, timeout: float = 900) -> Path:
    """Build the bundle into ``out`` for ``python``'s version with the Makefile target sam runs."""
    subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-f",
            str(MAKEFILE),
            "build-EngineFunction",
            f"ARTIFACTS_DIR={out}",
            f"PY_VERSION={python_version(python)}",
            f"PIP={sys.executable} -m pip",
            f"PYTHON={sys.executable}",
        ],
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
    )
    return out


def size_bytes(folder: Path) -> int:
    """Unzipped size, as Lambda counts it (file sizes, links not followed)."""
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def runtime_dir(out: Path) -> Path:
    """A folder standing in for the Lambda runtime's packages (links into this venv; pure Python)."""
    import boto3

    site = Path(boto3.__file__).resolve().parents[1]
    out.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        link = out / name
        if not link.exists():
            link.symlink_to(site / name)
    return out


class EngineProcess:
    """The handler in its own interpreter; one warm execution environment."""

    def __init__(self, bundle: Path, python: str, env: Mapping[str, str], runtime: Path) -> None:
        self.bundle = bundle
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": f"{bundle}{os.pathsep}{runtime}",
            "PYTHONDONTWRITEBYTECODE": "1",
            "POWERTOOLS_SERVICE_NAME": "swapgate",
            **env,
        }
        self.process = subprocess.Popen(
            [python, "-S", "-c", _DRIVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=environment,
            text=True,
            cwd=bundle,
        )
        self.import_seconds = self._read()["import_seconds"]

    def _read(self) -> Any:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("ANSWER "):
                return json.loads(line[len("ANSWER ") :])
        raise RuntimeError(f"the engine process ended (exit code {self.process.wait()})")

    def send(self, event: Any) -> dict[str, Any]:
        """The handler's answer to ``event``: ``{"answer": ..., "seconds": ...}`` or ``{"raised": ...}``."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        return self._read()

    def invoke(self, event: Any) -> Any:
        result = self.send(event)
        if "raised" in result:
            raise RuntimeError(f"the handler raised {result['raised']}: {result['message']}")
        return result["answer"]

    def facts(self) -> dict[str, Any]:
        """Loaded top-level modules, where the heavy ones came from, ``sys.path`` and peak RSS."""
        return self.send("__facts__")

    def lambda_client(self) -> _LambdaClient:
        return _LambdaClient(self)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


class _LambdaClient:
    """``invoke`` as boto3's Lambda client answers it; an ``Event`` invoke runs before it returns."""

    def __init__(self, process: EngineProcess) -> None:
        self.process = process
        self.invocations: list[tuple[str, dict[str, Any]]] = []
        self.last_seconds = 0.0  # how long the handler took on the last invoke

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        event = json.loads(Payload)
        self.invocations.append((InvocationType, event))
        result = self.process.send(event)
        self.last_seconds = result["seconds"]
        if InvocationType == "Event":
            return {"StatusCode": 202}
        if "raised" in result:
            body = {"errorType": result["raised"], "errorMessage": result["message"]}
            return {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": io.BytesIO(json.dumps(body).encode()),
            }
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(result["answer"]).encode())}
