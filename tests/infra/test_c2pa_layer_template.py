"""What template.yaml promises about C2PA signing: off unless a secret is named, and off with marking; the
C2PA library in a layer of its own (SwapgateLayer stays within its 10 MB), built without Docker, attached
only to the functions that store results; those alone may read that one secret."""

from __future__ import annotations

import fnmatch
import re
import tomllib

import pytest
from cfn_template import evaluate
from support import ROOT, TEMPLATE
from swapgate.provenance import c2pa_secret
from swapgate_dev.local import provision
from swapgate_dev.local.cfn import load_template
from swapgate_dev.local.sam import SamTemplate
from test_sam_template import FUNCTIONS, RESULT_STORERS, SIGNING_SECRET_ARN, actions, policy_statements, props

SIGNING = {"Fn::If": ["SignResults", {"Ref": "C2paSigningSecret"}, ""]}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def resources(template) -> dict:
    return template["Resources"]


def test_signing_is_off_unless_a_secret_is_named_and_marking_is_on(template):
    parameter = template["Parameters"]["C2paSigningSecret"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""
    for name in ("", "swapgate/prod/c2pa-signing", "c2pa_signer@example.com"):
        assert re.fullmatch(parameter["AllowedPattern"], name), name
    for not_a_name in ("arn:aws:secretsmanager:us-east-1:1:secret:x", "two words", "a*"):
        assert not re.fullmatch(parameter["AllowedPattern"], not_a_name), not_a_name
    alg = template["Parameters"]["C2paSigningAlg"]
    assert alg["Default"] == c2pa_secret.DEFAULT_ALG
    assert {"es256", "ps256", "ed25519"} <= set(alg["AllowedValues"])
    assert template["Conditions"]["SignResults"] == {
        "Fn::And": [
            {"Condition": "MarkResults"},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "C2paSigningSecret"}, ""]}]},
        ]
    }


def test_the_c2pa_layer_is_its_own_built_without_docker_and_pinned_as_the_tests_pin_it(resources):
    layer = resources["C2paLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Condition"] == "SignResults"  # not even deployed when results are not signed
    assert layer["Properties"]["ContentUri"] == "functions/c2pa_layer"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    makefile = (ROOT / "functions" / "c2pa_layer" / "Makefile").read_text()
    assert "build-C2paLayer:" in makefile
    for flag in ("--platform $(PLATFORM)", "--only-binary=:all:", "--no-deps", "--implementation cp"):
        assert flag in makefile, flag
    assert re.search(r"^PLATFORM := manylinux_2_28_aarch64$", makefile, re.MULTILINE)
    assert re.search(r"^PY_VERSION := 3\.13$", makefile, re.MULTILINE)
    assert "libs/*.rlib" in makefile  # the static library for linking, 31 MB, never loaded
    lines = (ROOT / "functions" / "c2pa_layer" / "requirements.txt").read_text().splitlines()
    [pin] = [line for line in lines if line.strip() and not line.startswith("#")]
    assert re.fullmatch(r"c2pa-python==[0-9.]+", pin)
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert pin in dev  # the tests sign with the version the layer ships
    main_layer = (ROOT / "functions" / "layer" / "requirements.txt").read_text()
    assert "c2pa" not in main_layer


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_only_the_functions_that_store_results_sign_them(resources, logical_id):
    properties = props(resources, logical_id)
    env = properties.get("Environment", {}).get("Variables", {})
    layers = properties.get("Layers", [])
    if logical_id in RESULT_STORERS:
        assert env[c2pa_secret.NAME_VARIABLE] == SIGNING
        assert env[c2pa_secret.ALG_VARIABLE] == {"Ref": "C2paSigningAlg"}
        assert {"Fn::If": ["SignResults", {"Ref": "C2paLayer"}, {"Ref": "AWS::NoValue"}]} in layers
    else:
        assert not any(name.startswith("SWAPGATE_C2PA") for name in env)
        assert "C2paLayer" not in str(layers)
    assert "Layers" not in props(resources, "EngineFunction")


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_the_signing_secret_is_readable_by_the_result_storers_alone_and_only_when_signing(
    resources, logical_id
):
    reads = [
        statement
        for statement in policy_statements(resources, logical_id)
        if any(action.startswith("secretsmanager:") for action in actions(statement))
    ]
    if logical_id not in RESULT_STORERS:
        assert reads == []
        return
    [statement] = reads
    assert actions(statement) == {"secretsmanager:GetSecretValue"}
    assert statement["Resource"] == {"Fn::Sub": SIGNING_SECRET_ARN}
    conditional = [p for p in props(resources, logical_id)["Policies"] if list(p) == ["Fn::If"]]
    assert conditional == [
        {"Fn::If": ["SignResults", {"Statement": [statement]}, {"Ref": "AWS::NoValue"}]}
    ]  # no grant at all without a secret
    # that one secret: its ARN is the name, "-" and six random characters
    refs = {
        "AWS::Partition": "aws",
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "123456789012",
        "C2paSigningSecret": "swapgate/prod/c2pa-signing",
    }
    granted = evaluate(statement["Resource"], refs)
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:swapgate/prod/c2pa-signing"
    assert fnmatch.fnmatchcase(arn + "-AbC123", granted)
    assert not fnmatch.fnmatchcase(arn + "-old-AbC123", granted)
    assert not fnmatch.fnmatchcase(arn.replace("c2pa-signing", "api-keys") + "-AbC123", granted)


@pytest.mark.parametrize(
    ("parameters", "signed"),
    [
        ({}, False),  # the default: no secret
        ({"C2paSigningSecret": "swapgate/dev/c2pa"}, True),
        ({"C2paSigningSecret": "swapgate/dev/c2pa", "ProvenanceMarks": "Disabled"}, False),
    ],
)
def test_the_local_stack_follows_the_parameters(parameters, signed):
    deployment = provision.plan(SamTemplate(TEMPLATE), endpoint_url=None, parameters=parameters)
    assert deployment.resolver.resource_enabled("C2paLayer") is signed
    for logical_id in RESULT_STORERS:
        env = provision.function_environment(deployment, logical_id)
        assert env[c2pa_secret.NAME_VARIABLE] == ("swapgate/dev/c2pa" if signed else "")
        assert env[c2pa_secret.ALG_VARIABLE] == "es256"
