"""Fixtures for the local-stack machinery tests: a real moto server on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from swapgate_dev.local.aws import MotoServer

HERE = Path(__file__).parent
REPO = HERE.parents[1]
TEST_TEMPLATE = HERE / "template.yaml"
REAL_TEMPLATE = REPO / "template.yaml"


@pytest.fixture
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer("127.0.0.1", 0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server: MotoServer):
    """boto3 clients for the moto server: ``aws("s3")``."""

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=moto_server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 1}),
        )

    return client
