"""Schemathesis: requests generated from the API's own ``/v1/openapi.json``, valid ones and invalid
ones, sent through the API Gateway emulator to the real handlers. No answer may be a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from fuzz_stack import API_KEY, Target, run_cases
from schemathesis import GenerationMode

#: at most, per operation and mode (an operation with few inputs has fewer distinct cases)
EXAMPLES = 100


@pytest.fixture(scope="module")
def openapi(target: Target):
    response = target.send("schema", "GET", "/v1/openapi.json", headers={"x-api-key": API_KEY})
    return schemathesis.openapi.from_dict(response.json())


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_requests_from_the_openapi_document(target: Target, openapi, mode):
    operations = [result.ok() for result in openapi.get_all_operations()]
    assert len(operations) >= 12
    sent = 0
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
            continue  # nothing to make invalid

        def send(target: Target, case) -> None:
            kwargs = case.as_transport_kwargs(base_url=target.url, headers={"x-api-key": API_KEY})
            target.request(f"schema {mode.value}", **kwargs)

        strategy = operation.as_strategy(generation_mode=mode)
        sent += run_cases(target, f"schema {mode.value}", EXAMPLES, strategy, send, exhaustible=True)
    assert sent >= len(operations) * EXAMPLES / 2


def _has_inputs(operation) -> bool:
    return bool(list(operation.iter_parameters())) or bool(operation.body)
