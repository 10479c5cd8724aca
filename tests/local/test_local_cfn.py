"""The CloudFormation loader and intrinsic resolver, and the SAM model over the real template."""

from __future__ import annotations

from pathlib import Path

import pytest
from swapgate_dev.local.apigw import binary_media_types, is_binary
from swapgate_dev.local.cfn import Resolver, UnresolvableReference, loads_template
from swapgate_dev.local.sam import SamTemplate, merge_globals

TEST_TEMPLATE = Path(__file__).parent / "template.yaml"
REAL_TEMPLATE = Path(__file__).parents[2] / "template.yaml"

SHORT_TAGS = """
Parameters:
  Stage: {Type: String, Default: dev}
  Size: {Type: Number, Default: 30}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
Mappings:
  Sizes: {dev: {max: 1}, prod: {max: 9}}
Resources:
  Thing:
    Type: Custom::Thing
    Properties:
      Name: !Join ["-", [swapgate, !Ref Stage, !Select [2, !Split ["/", !Ref AWS::StackId]]]]
      Arn: !GetAtt Queue.Arn
      ArnLong: !GetAtt [Queue, Arn]
      Url: !Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"
      Attr: !Sub "${Queue.Arn}/*"
      Literal: !Sub "${!NotAVariable}-${Size}"
      WithMap: !Sub ["${Prefix}-${Stage}", {Prefix: !Ref Stage}]
      Maybe: !If [IsProd, big, !Ref AWS::NoValue]
      List: [a, !If [NotProd, b, !Ref AWS::NoValue]]
      Max: !FindInMap [Sizes, !Ref Stage, max]
      Encoded: !Base64 hi
"""


def resolver(**parameters):
    document = loads_template(SHORT_TAGS)
    return document, Resolver(
        document,
        parameters=parameters,
        refs={"Api": "abc123", "Queue": "http://q"},
        attributes={("Queue", "Arn"): "arn:aws:sqs:us-east-1:123456789012:q"},
    )


def test_short_tags_load_as_long_forms():
    document = loads_template(SHORT_TAGS)
    props = document["Resources"]["Thing"]["Properties"]
    assert props["Arn"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert props["ArnLong"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert props["Maybe"] == {"Fn::If": ["IsProd", "big", {"Ref": "AWS::NoValue"}]}
    assert document["Conditions"]["NotProd"] == {"Fn::Not": [{"Condition": "IsProd"}]}


def test_intrinsics_resolve_with_defaults():
    document, r = resolver()
    props = r.resolve(document["Resources"]["Thing"]["Properties"])
    assert props["Name"] == "swapgate-dev-00000000-0000-0000-0000-000000000000"
    assert props["Arn"] == props["ArnLong"] == "arn:aws:sqs:us-east-1:123456789012:q"
    assert props["Url"] == "https://abc123.execute-api.us-east-1.amazonaws.com/dev"
    assert props["Attr"] == "arn:aws:sqs:us-east-1:123456789012:q/*"
    assert props["Literal"] == "${NotAVariable}-30"
    assert props["WithMap"] == "dev-dev"
    assert "Maybe" not in props  # AWS::NoValue removes the property
    assert props["List"] == ["a", "b"]
    assert props["Max"] == 1
    assert props["Encoded"] == "aGk="


def test_parameters_override_defaults_and_drive_conditions():
    document, r = resolver(Stage="prod")
    props = r.resolve(document["Resources"]["Thing"]["Properties"])
    assert props["Maybe"] == "big"
    assert props["List"] == ["a"]
    assert props["Max"] == 9
    assert props["Url"].endswith("/prod")


@pytest.mark.parametrize(
    "value, missing",
    [
        ({"Ref": "Nowhere"}, "Ref Nowhere"),
        ({"Fn::GetAtt": ["Queue", "QueueName"]}, "Fn::GetAtt Queue.QueueName"),
        ({"Fn::Sub": "${Other.Arn}"}, "Fn::GetAtt Other.Arn"),
    ],
)
def test_unresolvable_references_are_named(value, missing):
    _, r = resolver()
    with pytest.raises(UnresolvableReference) as error:
        r.resolve(value)
    assert error.value.reference == missing


def test_globals_merge_like_sam():
    merged = merge_globals(
        {"Variables": {"A": "1", "B": "2"}, "Layers": ["x"], "Timeout": 3},
        {"Variables": {"B": "3", "C": "4"}, "Layers": ["y"], "Timeout": 9},
    )
    assert merged == {"Variables": {"A": "1", "B": "3", "C": "4"}, "Layers": ["x", "y"], "Timeout": 9}


def test_small_template_functions_routes_and_sources():
    template = SamTemplate(TEST_TEMPLATE)
    functions = template.functions()
    assert set(functions) == {"EchoFunction", "BatchFunction"}
    echo = functions["EchoFunction"]
    assert echo.handler_file == TEST_TEMPLATE.parent / "echo_fn" / "app.py"
    assert set(echo.environment) == {"ECHO_GREETING", "ECHO_TABLE", "ECHO_SECRET_PARAM", "ECHO_MODE"}
    assert echo.memory_size == 256 and echo.timeout == 20
    routes = {(route.method, route.path) for route in template.api_routes()}
    assert ("ANY", "/files/{path+}") in routes and ("GET", "/items/{id}") in routes
    (source,) = template.sqs_sources()
    assert source.function_id == "BatchFunction" and source.report_batch_item_failures
    assert source.queue == {"Fn::GetAtt": ["WorkQueue", "Arn"]}


def test_real_template_is_understood():
    """The real template.yaml: every route reaches a function; binary types cover the uploads."""
    template = SamTemplate(REAL_TEMPLATE)
    routes = template.api_routes()
    assert ("POST", "/v1/swaps") in {(route.method, route.path) for route in routes}
    assert ("POST", "/callbacks/{provider}/{job_id}") in {(route.method, route.path) for route in routes}
    assert {route.function_id for route in routes} <= set(template.functions())
    for route in routes:
        assert template.functions()[route.function_id].handler_file.is_file()
    api = Resolver(template.document).resolve(template.api_properties(routes[0].api_id))
    binary = binary_media_types(api.get("BinaryMediaTypes"))
    assert is_binary("multipart/form-data; boundary=x", binary)
    assert is_binary("image/png", binary) and is_binary("image/jpeg", binary)
    assert not is_binary("application/json", binary)
    queues = {source.queue["Fn::GetAtt"][0] for source in template.sqs_sources()}
    assert queues == {"InboxQueue", "NotifyQueue"}
