"""A tiny SQS-sourced handler for the local-stack tests.

Bodies: "ok" succeeds, "fail" is reported in batchItemFailures, "crash" makes the whole invocation
raise, "bogus" reports an itemIdentifier that is not in the batch, "hang" sleeps for a minute. Every
event is recorded (with $BATCH_MARK as "mark") as a JSON line in the file $BATCH_RECORD names: the
handler runs in an execution environment of its own, another process than the test's.
"""

import json
import os
import time


def handler(event, context):
    if os.environ.get("BATCH_RECORD"):
        with open(os.environ["BATCH_RECORD"], "a", encoding="utf-8") as record:
            record.write(json.dumps({**event, "mark": os.environ.get("BATCH_MARK")}) + "\n")
    bodies = [record["body"] for record in event["Records"]]
    if "crash" in bodies:
        raise RuntimeError("crash requested")
    if "bogus" in bodies:
        return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
    if "hang" in bodies:
        time.sleep(60)
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"]
    return {"batchItemFailures": failures, "echo": json.dumps(bodies)}
