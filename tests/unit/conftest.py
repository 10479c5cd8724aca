"""The unit tests' moto jobs table."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from swapgate import keys
from swapgate.jobs import JobStore

REGION = "us-east-1"


@pytest.fixture
def store(monkeypatch):
    """A JobStore on an empty moto jobs table (the table's key scheme is swapgate.keys')."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        table = boto3.resource("dynamodb", region_name=REGION).create_table(
            TableName="jobs",
            KeySchema=[{"AttributeName": keys.PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": keys.PARTITION_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield JobStore(table)
