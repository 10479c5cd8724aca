"""The sam local assets: env.json and tests/events/ stay in sync with template.yaml, and every API
event file drives the real handler to its route."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from swapgate_dev.local import provision, samlocal
from swapgate_dev.local.functions import build_functions
from swapgate_dev.local.sam import SamTemplate

REPO = Path(__file__).parents[2]
TEMPLATE = SamTemplate(REPO / "template.yaml")


def test_committed_env_json_and_events_are_up_to_date(capsys):
    assert samlocal.main(["env", "--check"]) == 0, capsys.readouterr().out
    assert samlocal.main(["events", "--check"]) == 0, capsys.readouterr().out


def test_env_json_overrides_only_declared_variables_that_name_resources():
    env = json.loads((REPO / "env.json").read_text())
    functions = TEMPLATE.functions()
    for name in env["Parameters"]:
        assert all(name in spec.environment for spec in functions.values())  # sam local drops the rest
    for function, variables in env.items():
        if function == "Parameters":
            continue
        assert set(variables) <= set(functions[function].environment)
    assert env["Parameters"]["SWAPGATE_BUCKET"] == "<BucketName output of your stack>"


def test_env_json_filled_from_stack_outputs():
    outputs = {
        "BucketName": "swapgate-dev-1234",
        "TableName": "swapgate-dev-JobsTable-X",
        "NotifyQueueUrl": "https://sqs.us-east-1.amazonaws.com/1/notify",
        "StateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:poller",
        "ApiUrl": "https://abc.execute-api.us-east-1.amazonaws.com/dev",
    }
    env = samlocal.env_json(TEMPLATE, outputs)
    assert env["Parameters"]["SWAPGATE_BUCKET"] == "swapgate-dev-1234"
    assert env["ApiFunction"]["SWAPGATE_STATE_MACHINE_ARN"] == outputs["StateMachineArn"]
    assert env["TriggerFunction"]["SWAPGATE_PUBLIC_URL"] == outputs["ApiUrl"]
    assert "<" not in json.dumps(env)


def test_every_route_has_an_event_file():
    names = set(samlocal.api_events(TEMPLATE))
    assert len(names) == len(TEMPLATE.api_routes())
    for name in names:
        assert (REPO / "tests" / "events" / name).is_file()


@pytest.fixture
def functions(moto_server):
    deployment = provision.plan(
        TEMPLATE, endpoint_url=moto_server.url, parameters={"DefaultProvider": "ttapi"}
    )
    provision.deploy(deployment)
    env = {
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SWAPGATE_API_KEYS": samlocal.API_KEY,
        "SWAPGATE_SIGNING_SECRET": "secret",
        "TTAPI_API_KEY": "k",
        "TTAPI_BASE_URL": "http://127.0.0.1:9",  # nothing listens: provider calls fail fast
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    return build_functions(deployment, env=env)


@pytest.mark.parametrize("name", sorted(samlocal.api_events(TEMPLATE)))
def test_api_event_files_reach_their_route(functions, name):
    event = json.loads((REPO / "tests" / "events" / name).read_text())
    route = next(
        r for r in TEMPLATE.api_routes() if r.path == event["resource"] and r.method == event["httpMethod"]
    )
    answer = functions[route.function_id].invoke(event)
    assert answer["statusCode"] < 500 or json.loads(answer["body"])["error"]["code"].startswith("provider_")
    body = answer.get("body") or ""
    # Powertools' own "no such route" answer would mean the event does not match the handler's routes.
    assert not (answer["statusCode"] == 404 and '"Not found"' in body), body
