"""The API emulator in a moto ``mock_aws`` test: resources created from template.yaml in the
in-process mock, the real API and callback handlers behind a loopback URL, a provider fake whose
webhook comes back through that URL. This is the pattern for gateway tests that want real HTTP."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from moto import mock_aws
from swapgate_dev.fakes import FakeTtapi
from swapgate_dev.local import ApiGatewayEmulator, provision
from swapgate_dev.local.sam import SamTemplate

TEMPLATE = Path(__file__).parents[2] / "template.yaml"


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws(), FakeTtapi(api_key="provider-key", delay=0.2) as fake:
        deployment = provision.deploy(
            provision.plan(SamTemplate(TEMPLATE), endpoint_url=None, parameters={"DefaultProvider": "ttapi"})
        )
        env = {
            "SWAPGATE_API_KEYS": "client-key",
            "SWAPGATE_SIGNING_SECRET": "signing-secret",
            "SWAPGATE_ALLOW_PRIVATE_URLS": "1",
            "TTAPI_API_KEY": "provider-key",
            "TTAPI_BASE_URL": fake.base_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        with ApiGatewayEmulator(TEMPLATE, port=0, env=env, deployment=deployment) as emulator:
            yield emulator, fake


def test_submit_then_provider_webhook_through_the_emulator(api):
    emulator, fake = api
    headers = {"x-api-key": "client-key"}
    response = requests.post(
        f"{emulator.url}/v1/swaps",
        headers=headers,
        json={"source_image": f"{fake.base_url}/in/a.png", "face_image": f"{fake.base_url}/in/b.png"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    (delivery,) = fake.wait_for_webhooks(1, timeout=10)
    assert delivery.url.startswith(f"{emulator.url}/callbacks/ttapi/{job_id}?token=")
    assert delivery.status == 200
    deadline = time.monotonic() + 10
    while (job := requests.get(f"{emulator.url}/v1/swaps/{job_id}", headers=headers, timeout=10).json())[
        "status"
    ] != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job["status"] == "succeeded"
    assert job["result_url"]
