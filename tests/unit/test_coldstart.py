"""swapgate.coldstart: light package faces, the lazy tracer, the SnapStart hooks. Import checks run in
fresh interpreters, since what is imported is the point."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import types
from functools import cache
from pathlib import Path

import pytest
from swapgate import coldstart

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "POWERTOOLS_SERVICE_NAME": "swapgate",
    "SWAPGATE_TABLE": "jobs",
    "SWAPGATE_BUCKET": "bucket",
}


def run(function: str, code: str, **env: str) -> dict:
    """``code`` run after ``import app`` of ``functions/<function>``; prints JSON."""
    path = os.pathsep.join([str(ROOT / "functions" / function), str(ROOT / "functions" / "layer")])
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LAMBDA_", "POWERTOOLS_TRACE"))}
    environ.update(LAMBDA_ENV, PYTHONPATH=path, **env)
    out = subprocess.run(
        [sys.executable, "-c", "import app, json, sys\n" + code],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


HEAVY = (
    "aws_xray_sdk.core",
    "aws_lambda_powertools.event_handler.appsync",
    "aws_lambda_powertools.event_handler.openapi.models",
    "aws_lambda_powertools.utilities.idempotency.persistence.dynamodb",
    "aws_lambda_powertools.utilities.parameters",  # SSM and the C2PA secret: read on first use
    "c2pa",  # the C2PA library (its own layer): loaded by the first result signed
)


@pytest.mark.parametrize("function", ["api", "callback", "poll", "trigger", "notify", "job_events"])
def test_init_leaves_the_heavy_parts_unloaded(function):
    loaded = run(function, f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert loaded == []


def test_the_package_faces_still_answer_every_name():
    names = run(
        "api",
        "from aws_lambda_powertools.event_handler import AppSyncResolver, Response\n"
        "from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer\n"
        "from aws_lambda_powertools.event_handler import api_gateway\n"
        "print(json.dumps([Response is api_gateway.Response, AppSyncResolver.__name__,"
        " DynamoDBPersistenceLayer.__name__]))",
    )
    assert names == [True, "AppSyncResolver", "DynamoDBPersistenceLayer"]


def test_swagger_and_openapi_still_served():
    shapes = run(
        "api",
        f"base = json.loads(open({str(ROOT / 'tests/events/api_open_api_document.json')!r}).read())\n"
        "def call(path):\n"
        "    event = {**base, 'path': path, 'resource': path}\n"
        "    ctx = type('C', (), {'function_name': 'f', 'memory_limit_in_mb': 512,"
        " 'invoked_function_arn': 'arn:aws:lambda:us-east-1:1:function:f', 'aws_request_id': 'r'})()\n"
        "    return app.handler(event, ctx)\n"
        "docs, spec = call('/v1/docs'), call('/v1/openapi.json')\n"
        "print(json.dumps([docs['statusCode'], 'swagger-ui' in docs['body'], spec['statusCode'],"
        " '/v1/swaps' in json.loads(spec['body'])['paths']]))",
    )
    assert shapes == [200, True, 200, True]


def test_tracer_is_made_at_the_first_traced_call_in_lambda():
    state = run(
        "poll",
        "before = 'aws_xray_sdk.core' in sys.modules\n"
        "traced = app.tracer.capture_lambda_handler(lambda e, c: 'ok')\n"
        "print(json.dumps([before, traced({}, None), 'aws_xray_sdk.core' in sys.modules]))",
        LAMBDA_TASK_ROOT="/var/task",
    )
    assert state == [False, "ok", True]


def test_disabled_tracing_never_loads_the_xray_sdk():
    state = run(
        "poll",
        "traced = app.tracer.capture_lambda_handler(lambda e, c: 'ok')\n"
        "print(json.dumps([traced({}, None), 'aws_xray_sdk.core' in sys.modules]))",
        LAMBDA_TASK_ROOT="/var/task",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    assert state == ["ok", False]


def test_snapstart_hooks(monkeypatch):
    hooks: dict[str, list] = {"before": [], "after": []}
    fake = types.ModuleType("snapshot_restore_py")
    fake.register_before_snapshot = hooks["before"].append
    fake.register_after_restore = hooks["after"].append
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    made: list[object] = []

    @cache
    def client() -> object:
        made.append(object())
        return made[-1]

    warmed: list[bool] = []
    coldstart.snapstart(warm=lambda: warmed.append(True), refresh=(client,))
    first = client()
    for hook in hooks["before"]:
        hook()
    random.seed(7)
    snapshot_draw = random.random()
    random.seed(7)
    for hook in hooks["after"]:
        hook()
    assert warmed == [True]
    assert client() is not first  # a new client after the restore
    assert random.random() != snapshot_draw  # not the snapshot's random sequence


def test_snapstart_hooks_are_a_no_op_without_the_runtime_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails
    coldstart.snapstart(warm=lambda: pytest.fail("warm must not run"))
