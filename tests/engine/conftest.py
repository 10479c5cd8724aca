"""Shared fixtures for the engine tests: the fixture photos and one engine per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from swapgate.engine import FaceEngine

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    eng = FaceEngine()
    eng.warm_up()
    return eng


@pytest.fixture(scope="session")
def photo():
    """photo("astronaut.png") -> the file's bytes."""

    def load(name: str) -> bytes:
        return (FACES / name).read_bytes()

    return load
