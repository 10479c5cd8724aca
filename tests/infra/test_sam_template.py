"""What template.yaml, samconfig.toml and the build Makefiles promise, checked so that a later edit
cannot silently break it (`make validate` lints the template; these check Swapgate's own contract)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from cfn_template import evaluate, references
from support import ROOT, TEMPLATE
from swapgate import job_events
from swapgate_dev.local.cfn import TemplateError, load_template, loads_template

FUNCTIONS = {
    "ApiFunction": "functions/api/",
    "CallbackFunction": "functions/callback/",
    "PollFunction": "functions/poll/",
    "TriggerFunction": "functions/trigger/",
    "NotifyFunction": "functions/notify/",
    "JobEventsFunction": "functions/job_events/",
}

API_ROUTES = {
    ("POST", "/v1/swaps"),
    ("POST", "/v1/swaps/multi"),
    ("POST", "/v1/faces"),
    ("GET", "/v1/swaps/{id}"),
    ("POST", "/v1/swaps/{id}/cancel"),
    ("DELETE", "/v1/swaps/{id}"),
    ("POST", "/v1/uploads"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/docs"),
    ("GET", "/v1/providers"),
    ("GET", "/"),
    ("POST", "/api/aifaceswap/v1/faceswap"),
    ("POST", "/api/aifaceswap/v1/extract_face"),
    ("POST", "/api/aifaceswap/v1/multi_faceswap"),
    ("POST", "/insightFace/v1/swap"),
    ("POST", "/insightFace/v1/fetch"),
    ("GET", "/insightFace/v1/fetch"),
}

GLOBAL_ENV = {
    "POWERTOOLS_SERVICE_NAME": "swapgate",
    "POWERTOOLS_METRICS_NAMESPACE": "Swapgate",
    "SWAPGATE_BUCKET": {"Ref": "Bucket"},
    "SWAPGATE_TABLE": {"Ref": "JobsTable"},
    "SWAPGATE_PROVIDER": {"Ref": "DefaultProvider"},
    "SWAPGATE_MAX_IMAGE_BYTES": {"Ref": "MaxImageBytes"},
    "SWAPGATE_NOTIFY_QUEUE_URL": {"Ref": "NotifyQueue"},
    "SWAPGATE_POLL_INITIAL_SECONDS": {"Ref": "PollInitialSeconds"},
    "SWAPGATE_POLL_INTERVAL_SECONDS": {"Ref": "PollIntervalSeconds"},
    "SWAPGATE_POLL_MAX_INTERVAL_SECONDS": {"Ref": "PollMaxIntervalSeconds"},
    "SWAPGATE_JOB_TIMEOUT_SECONDS": {"Ref": "JobTimeoutSeconds"},
    "SWAPGATE_RETENTION_DAYS": {"Ref": "ResultRetentionDays"},
    "SWAPGATE_PROVENANCE": {"Fn::If": ["MarkResults", "on", "off"]},  # results are marked unless turned off
    # traces keep no handler answers (presigned URLs) and no error messages (request URLs)
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    "POWERTOOLS_TRACER_CAPTURE_ERROR": "false",
    # empty on AWS (secrets come from SSM): declared so that `sam local --env-vars` can set them
    "SWAPGATE_API_KEYS": "",
    "SWAPGATE_SIGNING_SECRET": "",
    "SWAPGATE_WEBHOOK_SECRET": "",
    "AIFACESWAP_API_KEY": "",
    "TTAPI_API_KEY": "",
}

# `<NAME>_PARAM` env var -> the template parameter holding the SSM parameter name.
SECRET_PARAMS = {
    "AIFACESWAP_API_KEY_PARAM": "AifaceswapApiKeyParameter",
    "TTAPI_API_KEY_PARAM": "TtapiApiKeyParameter",
    "SWAPGATE_API_KEYS_PARAM": "ApiKeysParameter",
    "SWAPGATE_SIGNING_SECRET_PARAM": "SigningSecretParameter",
    "SWAPGATE_WEBHOOK_SECRET_PARAM": "WebhookSecretParameter",
}

# What each function must be given beyond Globals (more is allowed, less breaks it on AWS).
FUNCTION_ENV = {
    "ApiFunction": {
        "AIFACESWAP_API_KEY_PARAM",
        "TTAPI_API_KEY_PARAM",
        "SWAPGATE_API_KEYS_PARAM",
        "SWAPGATE_SIGNING_SECRET_PARAM",
        "SWAPGATE_STATE_MACHINE_ARN",
        "SWAPGATE_RATE_LIMIT_PER_MINUTE",
    },
    "CallbackFunction": {"SWAPGATE_SIGNING_SECRET_PARAM", "SWAPGATE_C2PA_SECRET_ID", "SWAPGATE_C2PA_ALG"},
    "PollFunction": {
        "AIFACESWAP_API_KEY_PARAM",
        "TTAPI_API_KEY_PARAM",
        "SWAPGATE_C2PA_SECRET_ID",
        "SWAPGATE_C2PA_ALG",
    },
    "TriggerFunction": {
        "AIFACESWAP_API_KEY_PARAM",
        "TTAPI_API_KEY_PARAM",
        "SWAPGATE_SIGNING_SECRET_PARAM",
        "SWAPGATE_STATE_MACHINE_ARN",
        "SWAPGATE_PUBLIC_URL",
        "SWAPGATE_INBOX_OWNER",
    },
    "NotifyFunction": {"SWAPGATE_WEBHOOK_SECRET_PARAM"},
    "JobEventsFunction": {"SWAPGATE_NOTIFY_QUEUE_URL", "SWAPGATE_BUCKET"},
}

# The jobs table actions each function's code calls (swapgate.jobs, swapgate.access, swapgate.inbox's
# batch records), and nothing more: no Scan, Query or BatchWriteItem anywhere. DeleteItem only for the
# API: Powertools idempotency deletes the in-progress record of a submit that raised.
TABLE_ACTIONS = {
    "ApiFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
    "CallbackFunction": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    "PollFunction": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    "TriggerFunction": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:BatchGetItem",
    },
    "NotifyFunction": {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"},
    "JobEventsFunction": set(),  # the stream records carry the job; no table access
}

PURGE_DELETES = ("s3:DeleteObject", "s3:DeleteObjectVersion")

# The functions that store results (Gateway.apply_provider_update -> Storage.stage_result: the provider's
# webhook, the poller's fetch and last look): they sign them when the deployment has a C2PA secret.
RESULT_STORERS = {"CallbackFunction", "PollFunction"}
SIGNING_SECRET_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${C2paSigningSecret}-??????"
)

# (action, bucket prefix) each function uses; "" is the bucket itself (ListBucket: a missing key a
# client named answers NoSuchKey, not AccessDenied).
BUCKET_GRANTS = {
    "ApiFunction": {
        ("s3:PutObject", "uploads/"),
        ("s3:GetObject", "uploads/"),
        ("s3:GetObject", "results/"),
        ("s3:ListBucket", ""),
        ("s3:GetObject", "engine/"),  # built-in engine jobs: staged inputs, records, results
        ("s3:PutObject", "engine/"),
        # a result read before its publish is published by the reader (views.result_url)
        ("s3:GetObject", "staging/"),
        ("s3:DeleteObject", "staging/"),
        ("s3:PutObject", "results/"),
        ("s3:ListBucketVersions", ""),  # purge: every version of a job's objects, then deletes them
        *(
            (action, prefix)
            for action in PURGE_DELETES
            for prefix in ("uploads/", "staging/", "results/", "engine/")
        ),
    },
    # a provider's result is staged, then copied to results/ (CopyObject reads staging/, writes results/;
    # the publish checks results/ first); only staged copies are ever deleted
    "CallbackFunction": {
        ("s3:GetObject", "staging/"),
        ("s3:PutObject", "staging/"),
        ("s3:GetObject", "results/"),
        ("s3:PutObject", "results/"),
        ("s3:DeleteObject", "staging/"),
        ("s3:ListBucket", ""),
        ("s3:GetObject", "engine/"),
    },
    "PollFunction": {
        ("s3:GetObject", "staging/"),
        ("s3:PutObject", "staging/"),
        ("s3:GetObject", "results/"),
        ("s3:PutObject", "results/"),
        ("s3:DeleteObject", "staging/"),
        ("s3:ListBucket", ""),
        ("s3:GetObject", "engine/"),
    },
    "JobEventsFunction": {
        ("s3:GetObject", "staging/"),
        ("s3:PutObject", "staging/"),
        ("s3:GetObject", "results/"),
        ("s3:PutObject", "results/"),
        ("s3:DeleteObject", "staging/"),
        ("s3:ListBucket", ""),
    },
    "TriggerFunction": {
        ("s3:GetObject", "engine/"),
        ("s3:PutObject", "engine/"),
        ("s3:GetObject", "inbox/"),
        ("s3:GetObject", "uploads/"),
        ("s3:PutObject", "outbox/"),
        ("s3:DeleteObject", "outbox/"),
        ("s3:ListBucket", ""),
    },
    "NotifyFunction": {
        ("s3:GetObject", "results/"),
        ("s3:PutObject", "outbox/"),
        ("s3:GetObject", "staging/"),
        ("s3:DeleteObject", "staging/"),
        ("s3:PutObject", "results/"),
        ("s3:ListBucket", ""),
    },
}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def resources(template: dict) -> dict:
    return template["Resources"]


def props(resources: dict, logical_id: str) -> dict:
    return resources[logical_id]["Properties"]


def function_env(template: dict, logical_id: str) -> dict:
    merged = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    own = props(template["Resources"], logical_id).get("Environment", {}).get("Variables", {})
    merged.update(own)
    return merged


def policies(resources: dict, logical_id: str) -> list:
    """The function's policies, a conditional one (``!If [condition, policy, !Ref AWS::NoValue]``) as
    the policy it grants when its condition holds."""
    found = []
    for policy in props(resources, logical_id).get("Policies", []):
        if isinstance(policy, dict) and list(policy) == ["Fn::If"]:
            _, granted, otherwise = policy["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}, logical_id
            policy = granted
        found.append(policy)
    return found


def policy_statements(resources: dict, logical_id: str) -> list[dict]:
    statements = []
    for policy in policies(resources, logical_id):
        if isinstance(policy, dict) and "Statement" in policy:
            statements.extend(policy["Statement"])
    return statements


def policy_templates(resources: dict, logical_id: str) -> dict:
    found = {}
    for policy in policies(resources, logical_id):
        if isinstance(policy, dict) and "Statement" not in policy:
            found.update(policy)
    return found


def actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


# ----------------------------------------------------------------------------- resources and code


def test_logical_ids_are_the_documented_ones(resources):
    expected = {
        "SwapgateLayer",
        "C2paLayer",
        "Api",
        *FUNCTIONS,
        "Bucket",
        "BucketPolicy",
        "JobsTable",
        "PollerStateMachine",
        "InboxQueue",
        "InboxDeadLetterQueue",
        "InboxQueuePolicy",
        "NotifyQueue",
        "NotifyDeadLetterQueue",
        "JobEventsDeadLetterQueue",
    }
    engine = {"EngineFunction", "EngineInvokePolicy"}  # the built-in engine, docs/engine.md
    assert set(resources) == expected | engine
    documented = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    for logical_id in expected - {"BucketPolicy", "InboxQueuePolicy"}:
        assert f"`{logical_id}`" in documented, logical_id
    engine_doc = (ROOT / "docs" / "engine.md").read_text()
    for logical_id in engine:
        assert f"`{logical_id}`" in engine_doc, logical_id


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_code_and_runtime(template, resources, logical_id):
    resource = resources[logical_id]
    assert resource["Type"] == "AWS::Serverless::Function"
    properties = resource["Properties"]
    assert properties["CodeUri"] == FUNCTIONS[logical_id]
    assert (ROOT / properties["CodeUri"] / "app.py").is_file()
    handler = properties.get("Handler", template["Globals"]["Function"]["Handler"])
    assert handler == "app.handler"
    source = (ROOT / properties["CodeUri"] / "app.py").read_text()
    # a handler function, or one made by swapgate.shell.batch_handler for the record-batch functions
    assert re.search(r"^(def handler\(event|handler = batch_handler\()", source, re.MULTILINE)
    # Built by functions/Makefile without Docker or a local python3.13.
    assert resource["Metadata"] == {"BuildMethod": "makefile", "ContextPath": "functions"}
    makefile = (ROOT / "functions" / "Makefile").read_text()
    targets = re.search(r"^FUNCTIONS := (.*)$", makefile, re.MULTILINE).group(1).split()
    assert logical_id in targets


def test_function_globals(template, resources):
    function = template["Globals"]["Function"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Tracing"] == "Active"
    assert function["Environment"]["Variables"] == GLOBAL_ENV
    # SAM appends a function's Layers to Globals' (it cannot drop one), and the EngineFunction
    # (x86_64, cp312) must not carry the arm64/cp313 layer: every other function names it.
    assert "Layers" not in function
    c2pa_layer = {"Fn::If": ["SignResults", {"Ref": "C2paLayer"}, {"Ref": "AWS::NoValue"}]}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function" and logical_id != "EngineFunction":
            # the C2PA library only where results are stored, and only when they are signed
            signs = [c2pa_layer] if logical_id in RESULT_STORERS else []
            assert resource["Properties"].get("Layers") == [{"Ref": "SwapgateLayer"}, *signs], logical_id
    assert "Layers" not in props(resources, "EngineFunction")


def test_layer_is_built_from_the_package_for_arm64_cp313(resources):
    layer = resources["SwapgateLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "functions/layer"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / "functions" / "layer" / "Makefile").read_text()
    assert "build-SwapgateLayer:" in makefile
    for flag in ("--platform", "manylinux2014_aarch64", "--implementation cp", "--python-version"):
        assert flag in makefile
    assert re.search(r"^PY_VERSION := 3\.13$", makefile, re.MULTILINE)
    assert "--only-binary=:all:" in makefile
    assert "--exclude=__pycache__" in makefile


def test_layer_requirements_stay_lean():
    lines = (ROOT / "functions" / "layer" / "requirements.txt").read_text().splitlines()
    names = {re.split(r"[<>=!\[; ]", line.strip(), maxsplit=1)[0].lower() for line in lines}
    names.discard("")
    names = {name for name in names if not name.startswith("#")}
    assert {"requests", "aws-lambda-powertools", "pydantic"} <= names
    heavy = {
        "opencv-python",
        "opencv-python-headless",
        "numpy",
        "mediapipe",
        "boto3",
        "botocore",
        "c2pa-python",
    }
    assert not names & heavy


@pytest.mark.parametrize("logical_id", sorted(FUNCTION_ENV))
def test_function_environment(template, logical_id):
    env = function_env(template, logical_id)
    assert FUNCTION_ENV[logical_id] <= set(env)
    for variable, parameter in SECRET_PARAMS.items():
        if variable in env:
            assert env[variable] == {"Ref": parameter}
    if "SWAPGATE_STATE_MACHINE_ARN" in env:
        assert env["SWAPGATE_STATE_MACHINE_ARN"] == {"Ref": "PollerStateMachine"}


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_ssm_reads_are_exactly_the_named_parameters(template, resources, logical_id):
    """A function may read exactly the SSM parameters its `_PARAM` env vars name, and no others."""
    env = function_env(template, logical_id)
    wanted = {SECRET_PARAMS[variable] for variable in env if variable in SECRET_PARAMS}
    granted: set[str] = set()
    for statement in policy_statements(resources, logical_id):
        if any(action.startswith("ssm:") for action in actions(statement)):
            assert statement["Effect"] == "Allow"
            assert actions(statement) == {"ssm:GetParameter"}
            for arn in statement["Resource"]:
                text = arn["Fn::Sub"]
                assert text.startswith(
                    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${"
                )
                granted.add(re.search(r"parameter\$\{(\w+)\}$", text).group(1))
    for name in policy_templates(resources, logical_id):
        assert not name.startswith("SSM"), "use exact ssm:GetParameter statements"
    assert granted == wanted


def test_secret_parameters_are_absolute_ssm_names(template):
    for parameter in SECRET_PARAMS.values():
        definition = template["Parameters"][parameter]
        assert definition["Type"] == "String"
        assert definition["Default"].startswith("/swapgate/")
        assert re.fullmatch(definition["AllowedPattern"], definition["Default"])
        assert not re.fullmatch(definition["AllowedPattern"], "swapgate/no-leading-slash")


def test_least_privilege_grants(resources):
    templates = {logical_id: policy_templates(resources, logical_id) for logical_id in FUNCTIONS}
    notify_queue = {"QueueName": {"Fn::GetAtt": ["NotifyQueue", "QueueName"]}}
    machine = {"StateMachineName": {"Fn::GetAtt": ["PollerStateMachine", "Name"]}}
    for logical_id in FUNCTIONS:  # SAM's DynamoDB templates grant Scan, DeleteItem, BatchWriteItem ...
        assert not [name for name in templates[logical_id] if name.startswith("DynamoDB")], logical_id
    # Ended jobs are notified from the table's change stream only: no other function sends to the queue.
    assert templates["JobEventsFunction"]["SQSSendMessagePolicy"] == notify_queue
    for logical_id in set(FUNCTIONS) - {"JobEventsFunction"}:
        assert "SQSSendMessagePolicy" not in templates[logical_id], logical_id
    # The notify function backs off a failed delivery by changing the message's visibility.
    assert templates["NotifyFunction"]["SQSPollerPolicy"] == notify_queue
    for starter in ("ApiFunction", "TriggerFunction"):
        assert templates[starter]["StepFunctionsExecutionPolicy"] == machine
    for other in ("CallbackFunction", "PollFunction", "NotifyFunction", "JobEventsFunction"):
        assert "StepFunctionsExecutionPolicy" not in templates[other]
    for logical_id in FUNCTIONS:
        assert set(templates[logical_id]) <= {
            "SQSSendMessagePolicy",
            "SQSPollerPolicy",
            "StepFunctionsExecutionPolicy",
        }, logical_id
    stop = [s for s in policy_statements(resources, "ApiFunction") if "states:StopExecution" in actions(s)]
    assert len(stop) == 1 and actions(stop[0]) == {"states:StopExecution"}
    assert ":execution:${PollerStateMachine.Name}:*" in stop[0]["Resource"]["Fn::Sub"]
    for logical_id in FUNCTIONS:
        for statement in policy_statements(resources, logical_id):
            assert statement["Effect"] == "Allow"
            for action in actions(statement):
                assert action in {
                    *TABLE_ACTIONS[logical_id],
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:ListBucket",
                    *(
                        ("s3:DeleteObjectVersion", "s3:ListBucketVersions")
                        if logical_id == "ApiFunction"
                        else ()
                    ),
                    "ssm:GetParameter",
                    "states:StopExecution",
                    *(("secretsmanager:GetSecretValue",) if logical_id in RESULT_STORERS else ()),
                }, (logical_id, action)
            assert "*" not in str(statement.get("Resource")).replace("/*", "").replace(":*", "")
            if "s3:DeleteObject" in actions(statement):  # deletes stand alone, easy to review
                assert actions(statement) <= set(PURGE_DELETES)


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_table_actions_are_exactly_the_calls_made(resources, logical_id):
    granted = set()
    for statement in policy_statements(resources, logical_id):
        table_actions = {action for action in actions(statement) if action.startswith("dynamodb:")}
        if table_actions:
            assert statement["Resource"] == {"Fn::GetAtt": ["JobsTable", "Arn"]}  # no index, no other table
            granted |= table_actions
    assert granted == TABLE_ACTIONS[logical_id]
    for broad in ("dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:*"):
        assert broad not in granted
    assert "dynamodb:DeleteItem" not in granted or logical_id == "ApiFunction"  # idempotency records


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_bucket_grants_name_exact_prefixes(resources, logical_id):
    granted = set()
    for statement in policy_statements(resources, logical_id):
        bucket_actions = {action for action in actions(statement) if action.startswith("s3:")}
        if not bucket_actions:
            continue
        targets = statement["Resource"]
        for target in targets if isinstance(targets, list) else [targets]:
            if target == {"Fn::GetAtt": ["Bucket", "Arn"]}:
                prefix = ""
            else:
                match = re.fullmatch(r"\$\{Bucket\.Arn\}/([a-z]+/)\*", target["Fn::Sub"])
                assert match, target  # a prefix, never the whole bucket
                prefix = match.group(1)
            granted |= {(action, prefix) for action in bucket_actions}
    assert granted == BUCKET_GRANTS[logical_id]
    # only the API's purge (DELETE /v1/swaps/{id}) deletes a published result
    assert ("s3:DeleteObject", "results/") not in granted or logical_id == "ApiFunction"
    # only the API writes uploads/; nothing but the trigger reads inbox/
    assert ("s3:PutObject", "uploads/") not in granted or logical_id == "ApiFunction"
    assert ("s3:GetObject", "inbox/") not in granted or logical_id == "TriggerFunction"
    assert not any(prefix == "inbox/" and action != "s3:GetObject" for action, prefix in granted)


def test_traces_and_logs_keep_no_answers_or_events(template):
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert env["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"
    for logical_id in FUNCTIONS:  # the event holds the API key and bodies (images)
        assert "POWERTOOLS_LOGGER_LOG_EVENT" not in function_env(template, logical_id)
    for path in ROOT.glob("functions/*/app.py"):
        assert "log_event=True" not in path.read_text(), path


def test_inbox_owner_is_an_optional_key_digest(template):
    parameter = template["Parameters"]["InboxOwner"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "")
    assert re.fullmatch(parameter["AllowedPattern"], "0123456789abcdef01234567")
    assert not re.fullmatch(parameter["AllowedPattern"], "client-key-1")  # a digest, never a key
    assert function_env(template, "TriggerFunction")["SWAPGATE_INBOX_OWNER"] == {"Ref": "InboxOwner"}


# ----------------------------------------------------------------------------- API


def api_events(resources: dict, logical_id: str) -> list[dict]:
    events = props(resources, logical_id).get("Events", {}).values()
    return [event["Properties"] for event in events if event["Type"] == "Api"]


def test_every_api_route_exists(resources):
    routes = [(event["Method"].upper(), event["Path"]) for event in api_events(resources, "ApiFunction")]
    assert len(routes) == len(set(routes))
    assert set(routes) == API_ROUTES
    callback = [(e["Method"].upper(), e["Path"]) for e in api_events(resources, "CallbackFunction")]
    assert callback == [("POST", "/callbacks/{provider}/{job_id}")]
    for logical_id in FUNCTIONS:
        for event in api_events(resources, logical_id):
            assert event["RestApiId"] == {"Ref": "Api"}
    for logical_id in ("PollFunction", "TriggerFunction", "NotifyFunction", "JobEventsFunction"):
        assert api_events(resources, logical_id) == []
    assert props(resources, "ApiFunction")["Timeout"] <= 29


def test_api_stage_binary_types_and_throttling(resources):
    api = props(resources, "Api")
    assert api["StageName"] == {"Ref": "Stage"}
    assert api["TracingEnabled"] is True
    assert {"multipart~1form-data", "image~1*"} <= set(api["BinaryMediaTypes"])
    (setting,) = api["MethodSettings"]
    assert setting["ResourcePath"] == "/*"
    assert setting["HttpMethod"] == "*"
    assert setting["ThrottlingRateLimit"] == {"Ref": "ThrottleRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ThrottleBurstLimit"}


# ----------------------------------------------------------------------------- storage


def test_jobs_table_key_ttl_and_recovery(resources):
    table = props(resources, "JobsTable")
    assert resources["JobsTable"]["Type"] == "AWS::DynamoDB::Table"
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_bucket_lifecycle_rules(template, resources):
    rules = props(resources, "Bucket")["LifecycleConfiguration"]["Rules"]
    expiring = {
        rule["Prefix"]: rule["ExpirationInDays"]
        for rule in rules
        if rule["Status"] == "Enabled" and "ExpirationInDays" in rule
    }
    assert expiring == {
        "uploads/": 1,
        "results/": {"Ref": "ResultRetentionDays"},
        "engine/": 1,
        "staging/": 1,  # results not (yet) tied to a succeeded job
    }
    assert template["Parameters"]["ResultRetentionDays"]["Default"] == 30
    # No rule may expire the inbox, the outbox or the whole bucket.
    for rule in rules:
        if "ExpirationInDays" in rule:
            assert rule["Prefix"] not in ("", "inbox/", "outbox/")


def test_bucket_is_private_encrypted_and_tls_only(resources):
    bucket = props(resources, "Bucket")
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    policy = props(resources, "BucketPolicy")
    assert policy["Bucket"] == {"Ref": "Bucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"Fn::GetAtt": ["Bucket", "Arn"]} in statement["Resource"]


def test_inbox_notification_reaches_the_inbox_queue(resources):
    bucket = resources["Bucket"]
    (config,) = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert config["Event"] == "s3:ObjectCreated:*"
    assert config["Queue"] == {"Fn::GetAtt": ["InboxQueue", "Arn"]}
    assert config["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "inbox/"}]
    # S3 checks it may send to the queue when the notification is set: the policy comes first.
    assert bucket["DependsOn"] in ("InboxQueuePolicy", ["InboxQueuePolicy"])


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_queue_policy_names_this_bucket(resources, stage):
    """The queue policy cannot Ref the bucket (a cycle): it rebuilds the name, which must match."""
    refs = {
        "Stage": stage,
        "AWS::StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/"
        "swapgate-x/5f2e0b10-0c1d-11ef-9a6b-0a1b2c3d4e5f",
        "AWS::Partition": "aws",
        "AWS::AccountId": "123456789012",
    }
    bucket_name = evaluate(props(resources, "Bucket")["BucketName"], refs)
    assert bucket_name == f"swapgate-{stage}-5f2e0b10-0c1d-11ef-9a6b-0a1b2c3d4e5f"
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket_name)
    policy = props(resources, "InboxQueuePolicy")
    assert policy["Queues"] == [{"Ref": "InboxQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    source_arn = evaluate(statement["Condition"]["ArnEquals"]["aws:SourceArn"], refs)
    assert source_arn == f"arn:aws:s3:::{bucket_name}"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


@pytest.mark.parametrize(
    ("function", "queue", "dead_letter", "receives"),
    [
        ("TriggerFunction", "InboxQueue", "InboxDeadLetterQueue", 5),
        ("NotifyFunction", "NotifyQueue", "NotifyDeadLetterQueue", 6),
    ],
)
def test_queues_feed_their_function_with_partial_batch_failures(
    resources, function, queue, dead_letter, receives
):
    queue_props = props(resources, queue)
    assert queue_props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_letter, "Arn"]},
        "maxReceiveCount": receives,
    }
    timeout = props(resources, function)["Timeout"]
    assert queue_props["VisibilityTimeout"] >= 6 * timeout
    (event,) = props(resources, function)["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props(resources, dead_letter)["MessageRetentionPeriod"] >= 7 * 24 * 3600


def test_jobs_table_stream_feeds_the_job_events_function(resources):
    """Every terminal transition reaches JobEventsFunction: the table's stream with both images, a
    mapping filtered to job endings (the same pattern as swapgate.job_events), partial batch
    failures with bisection, bounded retries, and a dead-letter queue for what still fails."""
    assert props(resources, "JobsTable")["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    (event,) = props(resources, "JobEventsFunction")["Events"].values()
    assert event["Type"] == "DynamoDB"
    mapping = event["Properties"]
    assert mapping["Stream"] == {"Fn::GetAtt": ["JobsTable", "StreamArn"]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 1 <= mapping["MaximumRetryAttempts"] <= 20
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["JobEventsDeadLetterQueue", "Arn"]}}
    }
    (pattern,) = mapping["FilterCriteria"]["Filters"]
    assert json.loads(pattern["Pattern"]) == job_events.STREAM_FILTER
    assert props(resources, "JobEventsDeadLetterQueue")["MessageRetentionPeriod"] >= 7 * 24 * 3600
    # a record is retried within the stream's 24 h: the function's timeout times the tries stays far below
    assert props(resources, "JobEventsFunction")["Timeout"] * (mapping["MaximumRetryAttempts"] + 1) < 3600


def test_notify_has_a_short_timeout(resources):
    assert props(resources, "NotifyFunction")["Timeout"] <= 30


# ----------------------------------------------------------------------------- poller


def test_state_machine_runs_the_asl_file_on_the_poll_function(resources):
    machine = resources["PollerStateMachine"]
    assert machine["Type"] == "AWS::Serverless::StateMachine"
    properties = machine["Properties"]
    assert properties["Type"] == "STANDARD"
    assert properties["DefinitionUri"] == "infra/poller.asl.json"
    # the published alias when SnapStart is on (it applies to published versions only)
    assert properties["DefinitionSubstitutions"] == {
        "PollFunctionArn": {
            "Fn::If": ["UseSnapStart", {"Ref": "PollFunction.Alias"}, {"Fn::GetAtt": ["PollFunction", "Arn"]}]
        }
    }
    assert properties["Policies"] == [{"LambdaInvokePolicy": {"FunctionName": {"Ref": "PollFunction"}}}]
    text = (ROOT / properties["DefinitionUri"]).read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(properties["DefinitionSubstitutions"])


def test_poll_timing_defaults_keep_the_webhook_path_cheap(template):
    parameters = template["Parameters"]
    initial = parameters["PollInitialSeconds"]["Default"]
    interval = parameters["PollIntervalSeconds"]["Default"]
    cap = parameters["PollMaxIntervalSeconds"]["Default"]
    timeout = parameters["JobTimeoutSeconds"]["Default"]
    assert (initial, interval, cap, timeout) == (60, 30, 300, 1800)
    assert interval <= cap < timeout
    assert parameters["MaxImageBytes"]["Default"] == 10 * 1024 * 1024
    # A fresh deployment swaps with no provider account: the built-in engine; `local` is its old name.
    assert parameters["DefaultProvider"]["Default"] == "builtin"
    assert set(parameters["DefaultProvider"]["AllowedValues"]) == {"builtin", "local", "aifaceswap", "ttapi"}
    assert parameters["Stage"]["AllowedValues"] == ["dev", "prod"]


def test_no_circular_references(template, resources):
    """Edges as CloudFormation sees them after the SAM transform, Globals included."""
    graph: dict[str, set[str]] = {}
    globals_refs = references(template["Globals"]["Function"])
    for logical_id, resource in resources.items():
        # Events become separate permission / event source mapping resources, not edges of the function.
        properties = {k: v for k, v in resource.get("Properties", {}).items() if k != "Events"}
        edges = references(properties)
        depends = resource.get("DependsOn", [])
        edges |= {depends} if isinstance(depends, str) else set(depends)
        if resource["Type"] == "AWS::Serverless::Function":
            edges |= globals_refs
        graph[logical_id] = {edge for edge in edges if edge in resources}
    # The REST API's generated OpenAPI body names the ARN of every function with an Api event.
    for logical_id in FUNCTIONS:
        if api_events(resources, logical_id):
            graph["Api"].add(logical_id)
    assert "PollerStateMachine" not in graph["PollFunction"]

    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        assert node not in visiting, " -> ".join([*visiting, node])
        visiting.append(node)
        for target in sorted(graph[node]):
            visit(target)
        visiting.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)
    assert done == set(resources)


def test_outputs(template):
    outputs = template["Outputs"]
    assert set(outputs) >= {
        "ApiUrl",
        "SwaggerUrl",
        "BucketName",
        "TableName",
        "StateMachineArn",
        "InboxQueueUrl",
        "NotifyQueueUrl",
    }
    refs = {"Api": "abc123", "AWS::Region": "eu-west-1", "AWS::URLSuffix": "amazonaws.com", "Stage": "dev"}
    assert (
        evaluate(outputs["ApiUrl"]["Value"], refs) == "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"
    )
    assert evaluate(outputs["SwaggerUrl"]["Value"], refs).endswith("/dev/v1/docs")
    assert evaluate(outputs["PlaygroundUrl"]["Value"], refs).endswith("amazonaws.com/dev/")
    assert outputs["StateMachineArn"]["Value"] == {"Ref": "PollerStateMachine"}


# ----------------------------------------------------------------------------- samconfig


@pytest.mark.parametrize(("env", "stage"), [("default", "dev"), ("prod", "prod")])
def test_samconfig_environments(template, env, stage):
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert str(config["version"]) == "0.1"
    section = config[env]
    assert section["global"]["parameters"]["stack_name"] == f"swapgate-{stage}"
    assert section["build"]["parameters"] == {"cached": True, "parallel": True}
    assert section["validate"]["parameters"]["lint"] is True
    deploy = section["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is (stage == "prod")
    overrides = dict(item.split("=", 1) for item in deploy["parameter_overrides"])
    assert overrides["Stage"] == stage
    # Every secret parameter is named for this stage, so prod never falls back to dev's names.
    for parameter in SECRET_PARAMS.values():
        assert overrides[parameter].startswith(f"/swapgate/{stage}/")
        assert re.fullmatch(template["Parameters"][parameter]["AllowedPattern"], overrides[parameter])
    assert set(overrides) <= set(template["Parameters"])


def test_ci_validates_and_builds():
    run = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "make validate build" in run
    assert run.index("make validate build") > run.index("make test")
    makefile = (ROOT / "Makefile").read_text()
    for target in ("validate:", "build:"):
        assert re.search(rf"^{target}", makefile, re.MULTILINE)
    assert "sam validate --lint" in makefile.replace("$(SAM) ", "sam ")
    assert "asl-validator" in makefile


def test_paths_in_template_exist(resources):
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if key in properties:
                assert Path(ROOT / properties[key]).exists(), (logical_id, key)


def test_snapstart_is_a_parameter_off_by_default_on_published_versions(template):
    parameter = template["Parameters"]["SnapStart"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("Disabled", ["Enabled", "Disabled"])
    assert template["Conditions"]["UseSnapStart"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "Enabled"]}
    function = template["Globals"]["Function"]
    assert function["AutoPublishAlias"] == "live"  # SAM points the API and the queues at the alias
    assert function["SnapStart"] == {"ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}}


def test_a_key_given_twice_is_an_error_as_in_cloudformation():
    """A merge once left two Conditions blocks: YAML keeps the last, so the local stack lost a condition."""
    with pytest.raises(TemplateError, match="duplicate key 'Conditions'"):
        loads_template("Conditions:\n  A: !Equals [a, a]\nConditions:\n  B: !Equals [b, b]\n")
    load_template(TEMPLATE)  # the real one has none


def test_results_are_marked_unless_a_deployment_turns_it_off(template):
    assert template["Parameters"]["ProvenanceMarks"]["Default"] == "Enabled"
    assert template["Conditions"]["MarkResults"] == {"Fn::Equals": [{"Ref": "ProvenanceMarks"}, "Enabled"]}
