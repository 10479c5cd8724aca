"""Fixtures for the S3 inbox trigger tests: ``stack`` (see inbox_stack.py, registered as the module
``swapgate_tests_inbox_stack`` so that test files of tests/trigger and tests/notify can import it)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_NAME = "swapgate_tests_inbox_stack"


def _stack_module():
    if _NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).with_name("inbox_stack.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[_NAME]


inbox_stack = _stack_module()


@pytest.fixture
def stack(monkeypatch, fake_aifaceswap, fake_ttapi):
    with inbox_stack.running_stack(monkeypatch, fake_aifaceswap, fake_ttapi) as running:
        yield running
