"""``Prefer: wait`` on the create routes and GET /v1/swaps/{id} (a long poll), ``Cancel-After``'s
checks, GET /v1/providers, the playground page and the OpenAPI document's security schemes."""

from __future__ import annotations

import threading
import time

import pytest
from support.deployment import API_KEY
from support.functions import api_event, lambda_context, proxy_answer
from swapgate_dev.local.runtime import LambdaContext

GET = "/v1/swaps/{id}"


def _body(fake) -> dict:
    return {"source_image": f"{fake.base_url}/a.png", "face_image": f"{fake.base_url}/b.png"}


def _deliver_later(deployment, delay: float = 0.3) -> threading.Thread:
    """Hand the provider's webhook to the callback function from another thread, as API Gateway would
    while the API's request is still waiting."""

    def deliver():
        time.sleep(delay)
        deployment.deliver_callbacks(1)

    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    return thread


def test_without_prefer_the_answer_is_the_accepted_job_as_before(deployment, fake_aifaceswap):
    answer = deployment.api("POST", "/v1/swaps", json_body=_body(fake_aifaceswap))
    assert answer.status == 202
    assert set(answer.body) == {"id", "status", "provider", "points"}
    assert "Preference-Applied" not in answer.headers
    got = deployment.api("GET", f"/v1/swaps/{answer.body['id']}", resource=GET)
    assert got.status == 200 and got.body["status"] == "running"
    assert "Preference-Applied" not in got.headers


def test_create_with_prefer_wait_answers_201_with_the_ended_job(deployment, fake_aifaceswap):
    thread = _deliver_later(deployment)
    started = time.monotonic()
    answer = deployment.api(
        "POST", "/v1/swaps", json_body=_body(fake_aifaceswap), headers={"Prefer": "wait=8"}
    )
    took = time.monotonic() - started
    thread.join(10)
    assert answer.status == 201, answer.body
    assert answer.headers["Preference-Applied"] == "wait=8"
    assert answer.body["status"] == "succeeded" and answer.body["result_url"]
    assert answer.body["id"] == deployment.jobs()[0]["id"]
    assert took < 5  # answered when the job ended, not at the end of the wait


def test_multi_swap_waits_too(deployment, fake_aifaceswap):
    thread = _deliver_later(deployment)
    body = {
        "source_image": f"{fake_aifaceswap.base_url}/a.png",
        "face_images": [f"{fake_aifaceswap.base_url}/b.png"],
        "indexes": [0],
    }
    answer = deployment.api("POST", "/v1/swaps/multi", json_body=body, headers={"Prefer": "wait"})
    thread.join(10)
    assert answer.status == 201 and answer.body["status"] == "succeeded"
    assert answer.headers["Preference-Applied"] == "wait=10"  # a bare wait: the default


def test_a_job_still_running_after_the_wait_is_202_as_it_stands(deployment, fake_aifaceswap):
    fake_aifaceswap.inject("no_webhook")
    started = time.monotonic()
    answer = deployment.api(
        "POST", "/v1/swaps", json_body=_body(fake_aifaceswap), headers={"Prefer": "wait=1"}
    )
    took = time.monotonic() - started
    assert answer.status == 202
    assert answer.headers["Preference-Applied"] == "wait=1"
    assert answer.body["status"] == "running" and answer.body["result_url"] is None
    assert {"created_at", "updated_at", "error"} <= set(answer.body)  # the job as GET shows it
    assert 1.0 <= took < 3


def test_get_with_prefer_wait_is_a_long_poll(deployment, fake_aifaceswap):
    job_id = deployment.api("POST", "/v1/swaps", json_body=_body(fake_aifaceswap)).body["id"]
    path = f"/v1/swaps/{job_id}"
    still = deployment.api("GET", path, resource=GET, headers={"Prefer": "wait=1"})
    assert still.status == 202 and still.body["status"] == "running"
    assert still.headers["Preference-Applied"] == "wait=1" and still.headers["Vary"] == "Prefer"
    thread = _deliver_later(deployment)
    ended = deployment.api("GET", path, resource=GET, headers={"Prefer": "wait=8"})
    thread.join(10)
    assert ended.status == 200 and ended.body["status"] == "succeeded" and ended.body["result_url"]
    assert ended.headers["Preference-Applied"] == "wait=8"


def test_the_wait_ends_before_the_invocation_would(deployment, fake_aifaceswap):
    """Asked for 20 s by a function with 4 s left, it answers after about 1 s (3 s stay free)."""
    fake_aifaceswap.inject("no_webhook")
    job_id = deployment.api("POST", "/v1/swaps", json_body=_body(fake_aifaceswap)).body["id"]
    short = LambdaContext(function_name="api", invoked_function_arn="arn:api", timeout_seconds=4)
    event = api_event(
        "GET", f"/v1/swaps/{job_id}", resource=GET, headers={"x-api-key": API_KEY, "Prefer": "wait=20"}
    )
    started = time.monotonic()
    answer = proxy_answer(deployment.api_module.handler(event, short))
    assert answer.status == 202 and time.monotonic() - started < 2.5


def test_the_wait_ends_before_api_gateway_would(deployment, fake_aifaceswap):
    """API Gateway's 29 s run from when it received the request (a cold start included): received 25 s
    ago, a 20 s wait ends after about 1 s. A sample event from long ago waits as asked."""
    fake_aifaceswap.inject("no_webhook")
    job_id = deployment.api("POST", "/v1/swaps", json_body=_body(fake_aifaceswap)).body["id"]

    def get(received_ago: float, wait: int) -> tuple[int, float]:
        event = api_event(
            "GET",
            f"/v1/swaps/{job_id}",
            resource=GET,
            headers={"x-api-key": API_KEY, "Prefer": f"wait={wait}"},
        )
        event["requestContext"]["requestTimeEpoch"] = int((time.time() - received_ago) * 1000)
        started = time.monotonic()
        answer = proxy_answer(deployment.api_module.handler(event, lambda_context()))
        return answer.status, time.monotonic() - started

    status, took = get(25, 20)
    assert status == 202 and took < 2.5
    status, took = get(3600, 1)
    assert status == 202 and 1 <= took < 2.5


def test_how_prefer_is_read(deployment, fake_aifaceswap):
    """RFC 7240: several preferences, parameters, any case; the first wait counts; a value that is not
    seconds is ignored (no Preference-Applied); above the maximum it is capped."""
    thread = _deliver_later(deployment, delay=0)
    job_id = deployment.api(
        "POST", "/v1/swaps", json_body=_body(fake_aifaceswap), headers={"Prefer": "wait=8"}
    ).body["id"]
    thread.join(10)
    cases = {
        "wait=5": "wait=5",
        "WAIT = 7": "wait=7",
        'respond-async, wait="3"': "wait=3",
        "handling=lenient; x=1, wait=4;foo": "wait=4",
        "wait=2, wait=9": "wait=2",
        "wait=600": "wait=20",
        "wait": "wait=10",
        "wait=0": "wait=0",
        "wait=abc": None,
        "wait=-1": None,
        "respond-async": None,
        "": None,
    }
    for prefer, applied in cases.items():
        answer = deployment.api("GET", f"/v1/swaps/{job_id}", resource=GET, headers={"Prefer": prefer})
        assert answer.status == 200, (prefer, answer.body)
        assert answer.headers.get("Preference-Applied") == applied, prefer


@pytest.mark.parametrize("value", ["soon", "1.5h", "30 s", "-5", "0", "0s", "5d", "h"])
def test_a_bad_cancel_after_is_400_naming_the_header(deployment, fake_aifaceswap, value):
    answer = deployment.api(
        "POST", "/v1/swaps", json_body=_body(fake_aifaceswap), headers={"Cancel-After": value}
    )
    assert answer.status == 400, answer.body
    assert answer.body["error"]["field"] == "Cancel-After"
    assert "Cancel-After" in answer.body["error"]["message"]
    assert deployment.jobs() == []  # refused before any job was made


@pytest.mark.parametrize("value", ["30", "45s", "5m", "1h30m", "2H"])
def test_good_cancel_after_values_are_accepted(deployment, fake_aifaceswap, value):
    answer = deployment.api(
        "POST", "/v1/swaps", json_body=_body(fake_aifaceswap), headers={"Cancel-After": value}
    )
    assert answer.status == 202, answer.body


def test_providers_lists_operations_and_configuration(deployment, monkeypatch):
    answer = deployment.api("GET", "/v1/providers")
    assert answer.status == 200
    by_name = {p["name"]: p for p in answer.body["providers"]}
    assert list(by_name) == ["aifaceswap", "ttapi", "builtin"]
    assert by_name["aifaceswap"] == {
        "name": "aifaceswap",
        "operations": ["swap", "multi_swap", "extract_faces"],
        "configured": True,
        "default": True,
    }
    assert by_name["ttapi"]["operations"] == ["swap", "fetch"]
    assert answer.body["default"] == "aifaceswap"
    monkeypatch.delenv("TTAPI_API_KEY")
    assert {p["name"]: p["configured"] for p in deployment.api("GET", "/v1/providers").body["providers"]} == {
        "aifaceswap": True,
        "ttapi": False,
        "builtin": True,
    }
    assert deployment.api("GET", "/v1/providers", key=None).status == 401


def test_the_playground_page_is_public_and_self_contained(deployment):
    page = deployment.api("GET", "/", key=None)
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.body
    assert "<title>Swapgate playground</title>" in html
    assert "<script src=" not in html and 'rel="stylesheet"' not in html  # inlined: nothing else to load
    assert "https://" not in html and "http://" not in html  # no CDN
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'sha256-" in policy and "connect-src 'self'" in policy
    # only the exact root is public: other paths still need a key
    assert deployment.api("GET", "/v1/swaps/x", resource=GET, key=None).status == 401


def test_openapi_declares_the_key_schemes_and_summaries(deployment):
    spec = deployment.api("GET", "/v1/openapi.json", key=None).body
    schemes = spec["components"]["securitySchemes"]
    assert schemes["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "a client API key",
    }
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"
    assert spec["security"] == [{"apiKey": []}, {"bearer": []}]
    operations = [(path, op) for path, item in spec["paths"].items() for op in item.values()]
    assert "/v1/providers" in spec["paths"]
    for path, operation in operations:
        assert not operation["summary"].startswith(("GET ", "POST ")), path  # a real summary
    create = spec["paths"]["/v1/swaps"]["post"]
    assert {"201", "202"} <= set(create["responses"])
    assert {p["name"].lower() for p in create["parameters"]} >= {"prefer", "cancel-after"}
    page = deployment.api("GET", "/v1/docs", key=None)
    assert "securitySchemes" in page.body and "unpkg.com" not in page.body  # assets inlined: offline
