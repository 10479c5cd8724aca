"""End to end, through the local stack: one call for a quick swap (``Prefer: wait``), a long poll, and
a per-request deadline (``Cancel-After``) that the poller enforces."""

from __future__ import annotations

import time

import pytest
import requests
from test_local_stack_e2e import needs_engine

pytestmark = pytest.mark.e2e


def _provider_images(fake) -> dict[str, str]:
    return {"source_image": f"{fake.base_url}/in/target.png", "face_image": f"{fake.base_url}/in/face.png"}


@needs_engine
def test_a_quick_swap_is_one_call_with_prefer_wait(stack, faces):
    started = time.monotonic()
    response = stack.post(
        "/v1/swaps",
        files={
            "source_image": ("a.png", faces["astronaut.png"], "image/png"),
            "face_image": ("g.jpg", faces["grace_hopper.jpg"], "image/jpeg"),
        },
        data={"provider": "local"},
        headers={"Prefer": "wait=20"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["Preference-Applied"] == "wait=20"
    job = response.json()
    assert job["status"] == "succeeded" and job["result_url"]
    assert time.monotonic() - started < 15


def test_get_with_prefer_wait_answers_when_the_webhook_ends_the_job(stack, fake_aifaceswap):
    created = stack.post("/v1/swaps", json={**_provider_images(fake_aifaceswap), "provider": "aifaceswap"})
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    response = requests.get(
        f"{stack.api_url}/v1/swaps/{job_id}", headers=stack.headers(Prefer="wait=15"), timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    assert response.headers["Preference-Applied"] == "wait=15"


def test_cancel_after_ends_the_job_timed_out_long_before_the_job_timeout(stack, fake_aifaceswap):
    fake_aifaceswap.inject("no_webhook")
    started = time.monotonic()
    created = stack.post(
        "/v1/swaps",
        json={**_provider_images(fake_aifaceswap), "provider": "aifaceswap"},
        headers={"Cancel-After": "2s"},
    )
    assert created.status_code == 202, created.text
    job = stack.wait_for_job(created.json()["id"], timeout=30)
    assert job["status"] == "timed_out" and job["error"]["code"] == "timed_out"
    assert time.monotonic() - started < 12  # the stack's own job timeout is 15 s
    bad = stack.post("/v1/swaps", json=_provider_images(fake_aifaceswap), headers={"Cancel-After": "soon"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "Cancel-After"
