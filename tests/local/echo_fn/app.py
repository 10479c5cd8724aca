"""A tiny Lambda handler for the local-stack tests: answers with what it was given."""

import base64
import json
import os
import time

import helper  # a sibling module, importable because the function's folder is its task root

LOADS = helper.count_load()


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    if query.get("mode") == "raise":
        raise ValueError("asked to fail")
    if query.get("mode") == "garbage":
        return {"no": "statusCode"}
    if query.get("mode") == "binary":
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "image/png", "X-Single": "one"},
            "multiValueHeaders": {"X-Multi": ["a", "b"]},
            "body": base64.b64encode(b"\x89PNG\r\n\x1a\nbytes").decode(),
            "isBase64Encoded": True,
        }
    if query.get("mode") == "slow":
        time.sleep(0.3)
    if query.get("mode") == "hang":
        time.sleep(60)
    if event.get("Records"):
        return {"records": len(event["Records"])}
    answer = {
        "event": event,
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "log_group_name": context.log_group_name,
        },
        "env": {
            key: os.environ.get(key)
            for key in (
                "ECHO_GREETING",
                "ECHO_TABLE",
                "ECHO_SECRET_PARAM",
                "ECHO_LOCAL",
                "SWAPGATE_PUBLIC_URL",
            )
        },
        "loads": LOADS,
        "module": __name__,
        "pid": os.getpid(),
    }
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(answer)}
