"""What template.yaml promises about the EngineFunction (the built-in engine on AWS): on by default, a
parameter to leave it out, built without Docker for the runtime its wheels exist for, memory and
timeout from the measured figures, least privilege, invoked by exactly the functions that submit jobs."""

from __future__ import annotations

import re

import pytest
from support import ROOT, TEMPLATE
from swapgate.providers import builtin_jobs
from swapgate_dev.local import provision
from swapgate_dev.local.cfn import load_template
from swapgate_dev.local.sam import SamTemplate

ENGINE_ENV = {"Fn::If": ["HasEngineFunction", {"Ref": "EngineFunction"}, ""]}
HEAVY = {
    "jax",
    "jaxlib",
    "matplotlib",
    "scipy",
    "sounddevice",
    "opencv-python",
    "opencv-contrib-python",
    "boto3",
}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def engine(template) -> dict:
    return template["Resources"]["EngineFunction"]


def test_on_by_default_with_a_parameter_to_leave_it_out(template, engine):
    parameter = template["Parameters"]["BuiltinEngine"]
    assert parameter["Default"] == "Enabled" and parameter["AllowedValues"] == ["Enabled", "Disabled"]
    assert template["Conditions"]["HasEngineFunction"] == {
        "Fn::Equals": [{"Ref": "BuiltinEngine"}, "Enabled"]
    }
    assert engine["Condition"] == "HasEngineFunction"
    assert template["Resources"]["EngineInvokePolicy"]["Condition"] == "HasEngineFunction"
    assert template["Outputs"]["EngineFunctionName"]["Condition"] == "HasEngineFunction"
    # The default provider cannot be the engine while the engine is left out.
    (rule,) = template["Rules"].values()
    assert rule["Assertions"] == [
        {
            "Assert": {"Fn::Equals": [{"Ref": "BuiltinEngine"}, "Enabled"]},
            "AssertDescription": "DefaultProvider builtin needs BuiltinEngine=Enabled",
        }
    ]
    names = {value for clause in rule["RuleCondition"]["Fn::Or"] for value in clause["Fn::Equals"][1:]}
    assert names == {"builtin", "local"}


def test_runtime_and_build(engine):
    properties = engine["Properties"]
    # MediaPipe 0.10.21 (the engine's models) has Linux cp312 wheels for x86_64, none for cp313.
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["x86_64"]
    assert properties["Handler"] == "engine.app.handler"
    # CodeUri is functions/: the bundle is built from functions/engine and the swapgate package, and
    # `sam build --cached` rebuilds it when either changes.
    assert properties["CodeUri"] == "functions/"
    assert engine["Metadata"] == {"BuildMethod": "makefile", "ContextPath": "functions/engine"}
    source = (ROOT / "functions" / "engine" / "app.py").read_text()
    assert re.search(r"^def handler\(event", source, re.MULTILINE)
    makefile = (ROOT / "functions" / "engine" / "Makefile").read_text()
    assert re.search(r"^build-EngineFunction:", makefile, re.MULTILINE)
    assert re.search(r"^PY_VERSION \?= 3\.12$", makefile, re.MULTILINE)
    assert "manylinux_2_28_x86_64" in makefile and "manylinux2014_x86_64" in makefile
    for flag in ("--only-binary=:all:", "--no-deps", "--implementation cp", '-r "$(HERE)requirements.txt"'):
        assert flag in makefile
    assert "slim.py" in makefile


def test_requirements_are_pinned_and_trimmed():
    lines = (ROOT / "functions" / "engine" / "requirements.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    assert pins["mediapipe"] == "0.10.21"
    assert pins["numpy"].startswith("1.")  # MediaPipe 0.10.21 is built against NumPy 1
    assert "opencv-python-headless" in pins
    assert not set(pins) & HEAVY


def test_memory_timeout_and_async_retries_from_the_measured_figures(engine):
    properties = engine["Properties"]
    # peak RSS 1.15 GB on a 64-megapixel picture (the engine's limit); 1769 MB is one full vCPU
    assert properties["MemorySize"] == 2048
    assert properties["Timeout"] == 90
    config = properties["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2  # harmless: a taken job is not run again
    # A record queued longer than its events can live reads as failed (builtin_jobs.QUEUED_SECONDS).
    assert config["MaximumEventAgeInSeconds"] < builtin_jobs.QUEUED_SECONDS


def test_it_reads_and_writes_only_engine_objects(engine):
    (policy,) = engine["Properties"]["Policies"]
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert statement["Resource"] == {"Fn::Sub": "${Bucket.Arn}/engine/*"}


def test_only_the_submitting_functions_may_invoke_it(template):
    resources = template["Resources"]
    policy = resources["EngineInvokePolicy"]["Properties"]
    assert policy["Roles"] == [{"Ref": "ApiFunctionRole"}, {"Ref": "TriggerFunctionRole"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"] == {"Fn::GetAtt": ["EngineFunction", "Arn"]}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        env = resource["Properties"].get("Environment", {}).get("Variables", {})
        if logical_id in ("ApiFunction", "TriggerFunction"):
            assert env["SWAPGATE_ENGINE_FUNCTION"] == ENGINE_ENV
        else:
            assert "SWAPGATE_ENGINE_FUNCTION" not in env, logical_id


@pytest.mark.parametrize(("switch", "planned"), [("Enabled", True), ("Disabled", False)])
def test_the_local_stack_follows_the_switch(switch, planned):
    """The local stack runs the template: with the engine on, the API invokes it through local AWS
    (as on AWS); with it off, the variable is empty and the engine runs in the API's process."""
    deployment = provision.plan(
        SamTemplate(TEMPLATE), endpoint_url=None, parameters={"BuiltinEngine": switch}
    )
    assert ("EngineFunction" in deployment.names) is planned
    env = provision.function_environment(deployment, "ApiFunction")
    assert env["SWAPGATE_ENGINE_FUNCTION"] == (deployment.names.get("EngineFunction") or "")
    if planned:
        spec = SamTemplate(TEMPLATE).functions()["EngineFunction"]
        assert spec.handler_file == ROOT / "functions" / "engine" / "app.py"
        # as SAM merges Globals: a function's Architectures replace the global ones
        assert spec.properties["Architectures"] == ["x86_64"]
        assert spec.properties["Runtime"] == "python3.12"
