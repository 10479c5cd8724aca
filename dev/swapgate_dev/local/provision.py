"""Create the template's resources in local AWS (moto), from ``template.yaml`` itself.

Two steps, as CloudFormation does them:

1. ``plan``: give every resource its physical name and the values ``Ref`` / ``Fn::GetAtt`` return
   for it (names, ARNs, queue URLs), so that properties can be resolved in any order.
2. ``deploy``: resolve each resource's properties and make the API calls that create it,
   translating CloudFormation property shapes into API shapes where they differ (for example
   ``NotificationConfiguration.QueueConfigurations[].Queue`` -> ``QueueArn``). Nothing here repeats
   a definition: key schemas, TTL, lifecycle rules, filters, redrive policies and the state machine
   come from the template and the ASL file.

Access policies (``AWS::S3::BucketPolicy``, ``AWS::SQS::QueuePolicy``, function ``Policies``) are
not applied: the local endpoint is plain http and moto enforces no IAM.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from swapgate_dev.local.cfn import Resolver, TemplateError
from swapgate_dev.local.sam import IMPLICIT_API, SERVERLESS_API, SERVERLESS_FUNCTION, SamTemplate

log = logging.getLogger("swapgate_dev.local.provision")

ACCOUNT_ID = "123456789012"  # moto's default account
LOCAL_ROLE = "swapgate-local-execution-role"

BUCKET = "AWS::S3::Bucket"
TABLE = "AWS::DynamoDB::Table"
QUEUE = "AWS::SQS::Queue"
STATE_MACHINES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
LAYER = "AWS::Serverless::LayerVersion"
SSM_PARAMETER = "AWS::SSM::Parameter"


@dataclass
class Deployment:
    """What was created: physical names, and the resolver that knows them all."""

    template: SamTemplate
    resolver: Resolver
    endpoint_url: str | None
    region: str
    names: dict[str, str] = field(default_factory=dict)  # logical id -> physical name
    queue_urls: dict[str, str] = field(default_factory=dict)  # logical id -> URL
    queue_arns: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    function_arns: dict[str, str] = field(default_factory=dict)
    state_machine_arns: dict[str, str] = field(default_factory=dict)

    def queue_by_arn(self, arn: str) -> str:
        """The logical id of the queue with this ARN."""
        for logical_id, queue_arn in self.queue_arns.items():
            if queue_arn == arn:
                return logical_id
        raise TemplateError(f"no queue in the template has the ARN {arn}")


def _client(service: str, endpoint_url: str | None, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
    )


def _default_name(stack: str, logical_id: str) -> str:
    return f"{stack}-{logical_id}"


def plan(
    template: SamTemplate,
    *,
    endpoint_url: str | None,
    region: str = "us-east-1",
    stack_name: str = "swapgate-local",
    parameters: Mapping[str, Any] | None = None,
    physical_names: Mapping[str, str] | None = None,
) -> Deployment:
    """Physical names and ``Ref`` / ``GetAtt`` values for every resource the local stack runs.

    ``physical_names`` overrides the name of a resource by logical id (e.g. the bucket and the
    table get fixed local names whatever the template names them). ``endpoint_url`` None means
    AWS's own endpoints: with ``moto.mock_aws`` active, ``deploy`` then creates the resources in the
    in-process mock, e.g. for tests.
    """
    resolver = Resolver(
        template.document,
        parameters=parameters,
        pseudo={"AWS::Region": region, "AWS::AccountId": ACCOUNT_ID, "AWS::StackName": stack_name},
    )
    deployment = Deployment(template=template, resolver=resolver, endpoint_url=endpoint_url, region=region)
    overrides = dict(physical_names or {})
    refs, attrs = resolver.refs, resolver.attributes
    prefix = f"arn:aws:{{}}:{region}:{ACCOUNT_ID}"

    def name_from(logical_id: str, prop: str, default: str) -> str:
        if logical_id in overrides:
            return overrides[logical_id]
        value = template.properties(logical_id).get(prop)
        if value is None:
            return default
        return str(resolver.resolve(value))

    for logical_id, resource in template.resources.items():
        kind = resource.get("Type")
        if not resolver.resource_enabled(logical_id):
            continue
        if kind == BUCKET:
            name = name_from(logical_id, "BucketName", _default_name(stack_name, logical_id).lower())
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
            attrs[(logical_id, "DomainName")] = f"{name}.s3.amazonaws.com"
            attrs[(logical_id, "RegionalDomainName")] = f"{name}.s3.{region}.amazonaws.com"
        elif kind == TABLE:
            name = name_from(logical_id, "TableName", _default_name(stack_name, logical_id))
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = f"{prefix.format('dynamodb')}:table/{name}"
        elif kind == QUEUE:
            fifo = str(template.properties(logical_id).get("FifoQueue", "")).lower() == "true"
            default = _default_name(stack_name, logical_id) + (".fifo" if fifo else "")
            name = name_from(logical_id, "QueueName", default)
            base = endpoint_url or f"https://sqs.{region}.amazonaws.com"
            url = f"{base}/{ACCOUNT_ID}/{name}"
            arn = f"{prefix.format('sqs')}:{name}"
            refs[logical_id] = url
            attrs[(logical_id, "Arn")] = arn
            attrs[(logical_id, "QueueName")] = name
            attrs[(logical_id, "QueueUrl")] = url
            deployment.queue_urls[logical_id], deployment.queue_arns[logical_id] = url, arn
        elif kind == SERVERLESS_FUNCTION:
            name = name_from(logical_id, "FunctionName", _default_name(stack_name, logical_id))
            arn = f"{prefix.format('lambda')}:function:{name}"
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = arn
            role = f"arn:aws:iam::{ACCOUNT_ID}:role/{LOCAL_ROLE}"
            refs[f"{logical_id}Role"] = LOCAL_ROLE
            attrs[(f"{logical_id}Role", "Arn")] = role
            deployment.function_arns[logical_id] = arn
        elif kind in STATE_MACHINES:
            name = name_from(logical_id, "Name", _default_name(stack_name, logical_id))
            arn = f"{prefix.format('states')}:stateMachine:{name}"
            refs[logical_id] = arn
            attrs[(logical_id, "Arn")] = arn
            attrs[(logical_id, "Name")] = name
            deployment.state_machine_arns[logical_id] = arn
        elif kind == SERVERLESS_API:
            name = refs[logical_id] = "local"
            attrs[(logical_id, "RootResourceId")] = "root"
        elif kind == LAYER:
            name = refs[logical_id] = f"{prefix.format('lambda')}:layer:{logical_id}:1"
        elif kind == SSM_PARAMETER:
            name = name_from(logical_id, "Name", f"{stack_name}-{logical_id}")
            refs[logical_id] = name
        else:
            continue
        deployment.names[logical_id] = name
    refs.setdefault(IMPLICIT_API, "local")
    return deployment


# --------------------------------------------------------------------------------- translations
def _tags(tags: Any) -> list[dict[str, str]]:
    return [{"Key": str(tag["Key"]), "Value": str(tag["Value"])} for tag in tags or []]


def _s3_filter(cfn_filter: Mapping[str, Any] | None) -> dict[str, Any]:
    rules = ((cfn_filter or {}).get("S3Key") or {}).get("Rules") or []
    return {"Key": {"FilterRules": [{"Name": rule["Name"], "Value": rule["Value"]} for rule in rules]}}


def notification_configuration(cfn: Mapping[str, Any]) -> dict[str, Any]:
    """CloudFormation's ``NotificationConfiguration`` in the PutBucketNotificationConfiguration shape."""
    result: dict[str, Any] = {}
    kinds = (
        ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
        ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"),
        ("LambdaConfigurations", "LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
    )
    for cfn_key, api_key, cfn_target, api_target in kinds:
        configurations = []
        for item in cfn.get(cfn_key) or []:
            configuration = {api_target: item[cfn_target], "Events": [item["Event"]]}
            if item.get("Filter"):
                configuration["Filter"] = _s3_filter(item["Filter"])
            configurations.append(configuration)
        if configurations:
            result[api_key] = configurations
    if (cfn.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled") in (True, "true"):
        result["EventBridgeConfiguration"] = {}
    return result


def lifecycle_rules(cfn: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CloudFormation's ``LifecycleConfiguration.Rules`` in the PutBucketLifecycleConfiguration shape."""
    rules = []
    for item in cfn.get("Rules") or []:
        rule: dict[str, Any] = {"Status": item.get("Status", "Enabled")}
        if "Id" in item:
            rule["ID"] = item["Id"]
        prefix = item.get("Prefix", "")
        tags = _tags(item.get("TagFilters"))
        rule["Filter"] = {"And": {"Prefix": prefix, "Tags": tags}} if tags else {"Prefix": prefix}
        if "ExpirationInDays" in item:
            rule["Expiration"] = {"Days": int(item["ExpirationInDays"])}
        elif "ExpirationDate" in item:
            rule["Expiration"] = {"Date": item["ExpirationDate"]}
        if "AbortIncompleteMultipartUpload" in item:
            days = int(item["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
        if "NoncurrentVersionExpirationInDays" in item:
            rule["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(item["NoncurrentVersionExpirationInDays"])
            }
        rules.append(rule)
    return rules


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
)
_QUEUE_JSON_ATTRIBUTES = ("RedrivePolicy", "RedriveAllowPolicy")


def _attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def substitute_definition(definition: str, substitutions: Mapping[str, Any]) -> str:
    """SAM's ``DefinitionSubstitutions``: ``${Name}`` in the definition text becomes the value."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(substitutions[name]) if name in substitutions else match.group(0)

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", replace, definition)


def _lambda_zip() -> bytes:
    """A placeholder package for moto's record of the function; invocations never run it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    raise RuntimeError('not routed')\n")
    return buffer.getvalue()


# --------------------------------------------------------------------------------- deploy
def deploy(deployment: Deployment) -> Deployment:
    """Create every planned resource in local AWS."""
    template, resolver = deployment.template, deployment.resolver
    endpoint, region = deployment.endpoint_url, deployment.region

    def enabled(kind: str | tuple[str, ...]) -> list[str]:
        kinds = (kind,) if isinstance(kind, str) else kind
        return [
            logical_id
            for logical_id, resource in template.resources.items()
            if resource.get("Type") in kinds and logical_id in deployment.names
        ]

    iam = _client("iam", endpoint, region)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=LOCAL_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{LOCAL_ROLE}"

    # Queues first (bucket notifications point at them); redrive policies once all exist.
    sqs = _client("sqs", endpoint, region)
    redrives: dict[str, dict[str, str]] = {}
    for logical_id in enabled(QUEUE):
        props = resolver.resolve(template.properties(logical_id))
        attributes = {key: _attribute(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
        redrives[logical_id] = {key: json.dumps(props[key]) for key in _QUEUE_JSON_ATTRIBUTES if key in props}
        kwargs: dict[str, Any] = {"QueueName": deployment.names[logical_id], "Attributes": attributes}
        if props.get("Tags"):
            kwargs["tags"] = {tag["Key"]: tag["Value"] for tag in _tags(props["Tags"])}
        url = sqs.create_queue(**kwargs)["QueueUrl"]
        deployment.queue_urls[logical_id] = url
        resolver.refs[logical_id] = url
        resolver.attributes[(logical_id, "QueueUrl")] = url
    for logical_id, attributes in redrives.items():
        if attributes:
            sqs.set_queue_attributes(QueueUrl=deployment.queue_urls[logical_id], Attributes=attributes)

    dynamodb = _client("dynamodb", endpoint, region)
    for logical_id in enabled(TABLE):
        props = resolver.resolve(template.properties(logical_id))
        kwargs = {
            "TableName": deployment.names[logical_id],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "ProvisionedThroughput"):
            if key in props:
                kwargs[key] = props[key]
        if kwargs["BillingMode"] == "PROVISIONED" and "ProvisionedThroughput" not in kwargs:
            raise TemplateError(f"{logical_id}: PROVISIONED billing needs ProvisionedThroughput")
        if "StreamSpecification" in props:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        if "SSESpecification" in props:
            kwargs["SSESpecification"] = props["SSESpecification"]
        if props.get("Tags"):
            kwargs["Tags"] = _tags(props["Tags"])
        dynamodb.create_table(**kwargs)
        if "TimeToLiveSpecification" in props:
            ttl = props["TimeToLiveSpecification"]
            dynamodb.update_time_to_live(
                TableName=kwargs["TableName"],
                TimeToLiveSpecification={
                    "AttributeName": ttl["AttributeName"],
                    "Enabled": ttl.get("Enabled") in (True, "true"),
                },
            )
        if "PointInTimeRecoverySpecification" in props:
            pitr = props["PointInTimeRecoverySpecification"].get("PointInTimeRecoveryEnabled")
            dynamodb.update_continuous_backups(
                TableName=kwargs["TableName"],
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": pitr in (True, "true")},
            )

    s3 = _client("s3", endpoint, region)
    for logical_id in enabled(BUCKET):
        props = resolver.resolve(template.properties(logical_id))
        bucket = deployment.names[logical_id]
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if "OwnershipControls" in props:
            s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
        if "BucketEncryption" in props:
            rules = [
                {
                    **{k: v for k, v in rule.items() if k != "ServerSideEncryptionByDefault"},
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                }
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
        if "VersioningConfiguration" in props:
            s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
            )
        if "LifecycleConfiguration" in props:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket,
                LifecycleConfiguration={"Rules": lifecycle_rules(props["LifecycleConfiguration"])},
            )
        if "CorsConfiguration" in props:
            rules = [
                {
                    **{k: v for k, v in rule.items() if k not in ("Id", "MaxAge")},
                    **({"ID": rule["Id"]} if "Id" in rule else {}),
                    **({"MaxAgeSeconds": int(rule["MaxAge"])} if "MaxAge" in rule else {}),
                }
                for rule in props["CorsConfiguration"]["CorsRules"]
            ]
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        if "NotificationConfiguration" in props:
            s3.put_bucket_notification_configuration(
                Bucket=bucket,
                NotificationConfiguration=notification_configuration(props["NotificationConfiguration"]),
            )

    # Functions are recorded in moto so their ARNs are real; the Lambda router runs them.
    lambda_client = _client("lambda", endpoint, region)
    package = _lambda_zip()
    for logical_id, function in template.functions().items():
        if logical_id not in deployment.names:
            continue
        props = function.properties
        lambda_client.create_function(
            FunctionName=deployment.names[logical_id],
            Runtime=str(resolver.resolve(props.get("Runtime", "python3.13"))),
            Role=role_arn,
            Handler=function.handler,
            Code={"ZipFile": package},
            Timeout=int(resolver.resolve(function.timeout)),
            MemorySize=int(resolver.resolve(function.memory_size)),
            Architectures=[str(a) for a in resolver.resolve(props.get("Architectures", ["x86_64"]))],
        )

    sfn = _client("stepfunctions", endpoint, region)
    for logical_id in enabled(STATE_MACHINES):
        props = template.properties(logical_id)
        if "DefinitionUri" in props:
            uri = resolver.resolve(props["DefinitionUri"])
            if not isinstance(uri, str):
                raise TemplateError(f"{logical_id}: the local stack needs DefinitionUri to be a local file")
            definition = (template.root / uri).read_text(encoding="utf-8")
        elif "Definition" in props:
            definition = json.dumps(resolver.resolve(props["Definition"]))
        elif "DefinitionString" in props:
            definition = str(resolver.resolve(props["DefinitionString"]))
        else:
            raise TemplateError(f"{logical_id} has no definition")
        substitutions = resolver.resolve(props.get("DefinitionSubstitutions") or {})
        definition = substitute_definition(definition, substitutions)
        json.loads(definition)  # a substitution must leave valid JSON
        sfn.create_state_machine(
            name=deployment.names[logical_id],
            definition=definition,
            roleArn=str((props.get("RoleArn") and resolver.resolve(props["RoleArn"])) or role_arn),
            type=str(resolver.resolve(props.get("Type", "STANDARD"))),
        )
    for client in (iam, sqs, dynamodb, s3, lambda_client, sfn):
        client.close()
    return deployment


def function_environment(deployment: Deployment, logical_id: str) -> dict[str, str]:
    """A function's ``Environment.Variables`` (``Globals`` applied), resolved, as strings."""
    function = deployment.template.functions()[logical_id]
    resolved = deployment.resolver.resolve(function.environment)
    return {key: _attribute(value) for key, value in resolved.items()}
