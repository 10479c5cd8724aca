"""The shipped command: the console script and ``python -m swapgate_cli`` run the same ``main``, which
needs none of the layer's heavy dependencies and none of the development tools."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cli_fakeapi import closed_port
from swapgate_cli.main import main

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["swapgate"]


def test_the_console_scripts_entry_point_is_main():
    module, _, name = ENTRY_POINT.partition(":")
    assert getattr(importlib.import_module(module), name) is main


def _installed_script() -> str:
    script = Path(sys.executable).parent / "swapgate"
    assert script.exists(), "run `.venv/bin/pip install -e .` to create the swapgate console script"
    installed = [e.value for e in importlib.metadata.entry_points(group="console_scripts", name="swapgate")]
    if ENTRY_POINT not in installed:  # an install older than pyproject.toml runs another module
        pytest.skip(f"the installed swapgate script runs {installed}: run `.venv/bin/pip install -e .`")
    return str(script)


@pytest.mark.parametrize("how", ["console script", "python -m"])
def test_the_command_runs(how):
    command = [_installed_script()] if how == "console script" else [sys.executable, "-m", "swapgate_cli"]
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Command-line client of the Swapgate face-swap API" in done.stdout
    for name in ("swap", "multi", "faces", "status", "cancel"):
        assert name in done.stdout
    url = f"http://127.0.0.1:{closed_port()}"
    done = subprocess.run(
        [*command, "--url", url, "status", "job1"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "not reachable" in done.stderr


def test_the_cli_imports_only_light_modules():
    probe = "import sys, swapgate_cli.main; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    heavy = {"boto3", "botocore", "pydantic", "aws_lambda_powertools", "moto", "yaml", "swapgate_dev"}
    assert not {name.split(".")[0] for name in loaded} & heavy
    layer = {name for name in loaded if name.split(".")[0] == "swapgate"}
    assert layer <= {"swapgate", "swapgate.errors", "swapgate.images", "swapgate.retry"}
