"""The API Gateway emulator: the proxy event it builds, the answers it writes, its own errors."""

from __future__ import annotations

import base64
import http.client
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from swapgate_dev.local.apigw import ApiGatewayEmulator

TEST_TEMPLATE = Path(__file__).parent / "template.yaml"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # not valid UTF-8


@pytest.fixture(scope="module")
def api():
    with ApiGatewayEmulator(TEST_TEMPLATE, port=0, env={"ECHO_LOCAL": "yes"}) as emulator:
        yield emulator


def echo(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def raw_request(api, method, path, headers, body=b""):
    connection = http.client.HTTPConnection(api.host, api.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_get_event_shape(api):
    status, answer = raw_request(
        api,
        "GET",
        "/items/42?tag=a&tag=b&empty=",
        [("Host", f"127.0.0.1:{api.port}"), ("X-Dup", "1"), ("X-Dup", "2"), ("User-Agent", "tests")],
    )
    assert status == 200
    event = answer["event"]
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/42"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"tag": "b", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "empty": [""]}
    assert event["headers"]["X-Dup"] == "2"
    assert event["multiValueHeaders"]["X-Dup"] == ["1", "2"]
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    context = event["requestContext"]
    assert context["stage"] == "test"
    assert context["path"] == "/items/42"
    assert context["resourcePath"] == "/items/{id}"
    assert context["httpMethod"] == "GET"
    assert context["domainName"] == f"127.0.0.1:{api.port}"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "tests"
    assert context["accountId"] == "123456789012"
    uuid.UUID(context["requestId"])
    assert isinstance(context["requestTimeEpoch"], int)


def test_no_query_no_params_are_null(api):
    event = echo(requests.get(f"{api.url}/items", timeout=10))["event"]
    assert event["resource"] == "/items"
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None


def test_url_encoded_path_parameter_is_decoded(api):
    event = echo(requests.get(f"{api.url}/items/a%20b", timeout=10))["event"]
    assert event["pathParameters"] == {"id": "a b"}
    assert event["path"] == "/items/a b"


def test_literal_resource_wins_over_parameter_and_its_methods_only(api):
    event = echo(requests.post(f"{api.url}/items/special", data="x", timeout=10))["event"]
    assert event["resource"] == "/items/special"
    # API Gateway picks the resource first: /items/special has no GET, so no fallback to /items/{id}.
    response = requests.get(f"{api.url}/items/special", timeout=10)
    assert response.status_code == 405
    assert response.json() == {"message": "Method Not Allowed"}


def test_greedy_path_and_any_method(api):
    event = echo(requests.delete(f"{api.url}/files/a/b/c.txt", timeout=10))["event"]
    assert event["resource"] == "/files/{path+}"
    assert event["pathParameters"] == {"path": "a/b/c.txt"}
    assert event["httpMethod"] == "DELETE"


def test_text_body_is_passed_as_text(api):
    body = json.dumps({"name": "zoë"})
    response = requests.post(
        f"{api.url}/items", data=body.encode(), headers={"Content-Type": "application/json"}, timeout=10
    )
    event = echo(response)["event"]
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"name": "zoë"}


def test_binary_media_type_body_is_base64(api):
    response = requests.post(f"{api.url}/items", data=PNG, headers={"Content-Type": "image/png"}, timeout=10)
    event = echo(response)["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == PNG


def test_multipart_body_is_base64_byte_for_byte(api):
    prepared = requests.Request(
        "POST", f"{api.url}/items", files={"image": ("face.png", PNG, "image/png")}, data={"note": "hi"}
    ).prepare()
    with requests.Session() as session:
        event = echo(session.send(prepared, timeout=10))["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == prepared.body
    assert event["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")


def test_binary_response_is_decoded_and_headers_merged(api):
    response = requests.get(f"{api.url}/items?mode=binary", timeout=10)
    assert response.status_code == 200
    assert response.content == b"\x89PNG\r\n\x1a\nbytes"
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Single"] == "one"
    assert response.headers["X-Multi"] == "a, b"
    assert response.headers["x-amzn-RequestId"]


@pytest.mark.parametrize(
    "method, path, status, message",
    [
        ("GET", "/nothing/here", 404, "Not Found"),
        ("PUT", "/items", 405, "Method Not Allowed"),
        ("GET", "/items?mode=raise", 502, "Internal server error"),
        ("GET", "/items?mode=garbage", 502, "Internal server error"),
    ],
)
def test_gateway_errors_in_api_gateway_shape(api, method, path, status, message):
    response = requests.request(method, f"{api.url}{path}", timeout=10)
    assert response.status_code == status
    assert response.json() == {"message": message}
    assert response.headers["Content-Type"] == "application/json"


def test_oversized_request_is_refused_before_the_handler(api):
    big = b"x" * (10 * 1024 * 1024 + 1)
    response = requests.post(f"{api.url}/items", data=big, headers={"Content-Type": "text/plain"}, timeout=30)
    assert response.status_code == 413


def test_context_and_environment(api):
    answer = echo(requests.get(f"{api.url}/items", timeout=10))
    context = answer["context"]
    assert context["function_name"] == "swapgate-local-EchoFunction"
    assert context["memory_limit_in_mb"] == 256
    assert context["invoked_function_arn"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:swapgate-local-EchoFunction"
    )
    assert 0 < context["remaining_ms"] <= 20_000
    uuid.UUID(context["aws_request_id"])
    assert context["log_group_name"] == "/aws/lambda/swapgate-local-EchoFunction"
    env = answer["env"]
    assert env["ECHO_GREETING"] == "hello from us-east-1"  # Globals + !Sub
    assert env["ECHO_TABLE"] == "swapgate-local-table"  # !Ref to the planned table name
    assert env["ECHO_SECRET_PARAM"] is None  # SSM names are dropped locally
    assert env["ECHO_LOCAL"] == "yes"  # local override
    assert env["SWAPGATE_PUBLIC_URL"] == api.url  # provider callbacks come back here
    assert "ECHO_LOCAL" not in os.environ  # only the function sees its environment


def test_concurrent_requests_get_separate_execution_environments(api):
    with ThreadPoolExecutor(3) as pool:
        answers = list(
            pool.map(lambda _: echo(requests.get(f"{api.url}/items?mode=slow", timeout=10)), range(3))
        )
    modules = {answer["module"] for answer in answers}
    assert len(modules) == 3  # three warm environments, one invocation each at a time
    assert all(answer["loads"] == 1 for answer in answers)  # each imported its own sibling module


def test_stop_frees_the_port():
    emulator = ApiGatewayEmulator(TEST_TEMPLATE, port=0).start()
    port = emulator.port
    assert requests.get(f"{emulator.url}/items", timeout=10).status_code == 200
    emulator.stop()
    again = ApiGatewayEmulator(TEST_TEMPLATE, port=port).start()
    try:
        assert requests.get(f"{again.url}/items", timeout=10).status_code == 200
    finally:
        again.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/items", timeout=5)
