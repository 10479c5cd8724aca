"""A tiny SQS-sourced handler for the local-stack tests.

Bodies: "ok" succeeds, "fail" is reported in batchItemFailures, "crash" makes the whole invocation
raise, "bogus" reports an itemIdentifier that is not in the batch. Every event is recorded.
"""

import json
import os

EVENTS = []


def handler(event, context):
    EVENTS.append(event)
    bodies = [record["body"] for record in event["Records"]]
    if "crash" in bodies:
        raise RuntimeError("crash requested")
    if "bogus" in bodies:
        return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"]
    if os.environ.get("BATCH_MARK"):
        EVENTS[-1] = {**event, "mark": os.environ["BATCH_MARK"]}
    return {"batchItemFailures": failures, "echo": json.dumps(bodies)}
