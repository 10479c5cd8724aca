"""Resources created in local AWS from the real template.yaml and the ASL file."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from swapgate_dev.local import provision
from swapgate_dev.local.sam import SamTemplate

REPO = Path(__file__).parents[2]
NAMES = {"Bucket": "swapgate-local", "JobsTable": "swapgate-local-jobs"}


@pytest.fixture
def deployed(moto_server):
    template = SamTemplate(REPO / "template.yaml")
    deployment = provision.plan(
        template, endpoint_url=moto_server.url, parameters={"DefaultProvider": "local"}, physical_names=NAMES
    )
    return provision.deploy(deployment)


def template_properties(logical_id: str) -> dict:
    return SamTemplate(REPO / "template.yaml").properties(logical_id)


def test_table_from_the_template(deployed, aws):
    table = aws("dynamodb").describe_table(TableName="swapgate-local-jobs")["Table"]
    declared = template_properties("JobsTable")
    assert table["KeySchema"] == declared["KeySchema"]
    assert table["AttributeDefinitions"] == declared["AttributeDefinitions"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = aws("dynamodb").describe_time_to_live(TableName="swapgate-local-jobs")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    backups = aws("dynamodb").describe_continuous_backups(TableName="swapgate-local-jobs")
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


def test_bucket_notification_lifecycle_and_guards(deployed, aws):
    s3 = aws("s3")
    notification = s3.get_bucket_notification_configuration(Bucket="swapgate-local")
    (queue,) = notification["QueueConfigurations"]
    assert queue["QueueArn"] == deployed.queue_arns["InboxQueue"]
    assert queue["Events"] == ["s3:ObjectCreated:*"]
    assert queue["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "inbox/"}]}}
    rules = {
        rule["ID"]: rule for rule in s3.get_bucket_lifecycle_configuration(Bucket="swapgate-local")["Rules"]
    }
    assert rules["ExpireUploads"]["Filter"] == {"Prefix": "uploads/"}
    assert rules["ExpireUploads"]["Expiration"] == {"Days": 1}
    assert rules["ExpireResults"]["Expiration"] == {"Days": 30}  # the ResultRetentionDays default
    block = s3.get_public_access_block(Bucket="swapgate-local")["PublicAccessBlockConfiguration"]
    assert all(block.values())
    encryption = s3.get_bucket_encryption(Bucket="swapgate-local")["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_inbox_objects_reach_the_inbox_queue_and_others_do_not(deployed, aws):
    s3, sqs = aws("s3"), aws("sqs")
    s3.put_object(Bucket="swapgate-local", Key="inbox/my job.json", Body=b"{}")
    s3.put_object(Bucket="swapgate-local", Key="results/x.png", Body=b"png")
    messages = sqs.receive_message(QueueUrl=deployed.queue_urls["InboxQueue"], MaxNumberOfMessages=10)[
        "Messages"
    ]
    bodies = [json.loads(message["Body"]) for message in messages]
    records = [record for body in bodies for record in body.get("Records", [])]
    # Keys arrive URL-encoded (S3 writes "inbox/my+job.json"; moto also encodes the slash).
    assert [unquote_plus(record["s3"]["object"]["key"]) for record in records] == ["inbox/my job.json"]
    assert records[0]["s3"]["bucket"]["name"] == "swapgate-local"


def test_queues_and_redrive_policies(deployed, aws):
    sqs = aws("sqs")
    for queue, dead_letter, receives in (
        ("InboxQueue", "InboxDeadLetterQueue", 5),
        ("NotifyQueue", "NotifyDeadLetterQueue", 6),
    ):
        attributes = sqs.get_queue_attributes(QueueUrl=deployed.queue_urls[queue], AttributeNames=["All"])[
            "Attributes"
        ]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == deployed.queue_arns[dead_letter]
        assert int(redrive["maxReceiveCount"]) == receives
        assert attributes["VisibilityTimeout"] == str(template_properties(queue)["VisibilityTimeout"])


def test_state_machine_from_the_asl_file_with_substitutions(deployed, aws):
    arn = deployed.state_machine_arns["PollerStateMachine"]
    described = aws("stepfunctions").describe_state_machine(stateMachineArn=arn)
    definition = json.loads(described["definition"])
    on_disk = json.loads((REPO / "infra" / "poller.asl.json").read_text())
    assert definition["StartAt"] == on_disk["StartAt"]
    assert set(definition["States"]) == set(on_disk["States"])
    assert "${" not in described["definition"]
    tasks = [state for state in definition["States"].values() if state["Type"] == "Task"]
    assert tasks and {task["Resource"] for task in tasks} == {deployed.function_arns["PollFunction"]}
    assert described["type"] == "STANDARD"


def test_functions_recorded_and_environment_resolved(deployed, aws):
    names = {fn["FunctionName"] for fn in aws("lambda").list_functions()["Functions"]}
    assert names == {deployed.names[logical_id] for logical_id in deployed.function_arns}
    env = provision.function_environment(deployed, "ApiFunction")
    assert env["SWAPGATE_BUCKET"] == "swapgate-local"
    assert env["SWAPGATE_TABLE"] == "swapgate-local-jobs"
    assert env["SWAPGATE_PROVIDER"] == "local"  # the DefaultProvider parameter
    assert env["SWAPGATE_NOTIFY_QUEUE_URL"] == deployed.queue_urls["NotifyQueue"]
    assert env["SWAPGATE_STATE_MACHINE_ARN"] == deployed.state_machine_arns["PollerStateMachine"]
