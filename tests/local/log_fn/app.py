"""A handler for the execution-environment tests: logs through Powertools with a key of its own event
(``tag``) and its process id, counts its calls in module state, and can sleep, hang or exit.
"""

import os
import time

from aws_lambda_powertools import Logger

logger = Logger(service="log-fn")
CALLS = {"count": 0}  # module state: private to one execution environment


@logger.inject_lambda_context(clear_state=True)
def handler(event, context):
    CALLS["count"] += 1
    logger.append_keys(tag=event["tag"], pid=os.getpid())
    time.sleep(event.get("sleep", 0))
    logger.info("working on %s", event["tag"])
    if event.get("exit"):
        os._exit(3)
    return {
        "tag": event["tag"],
        "pid": os.getpid(),
        "calls": CALLS["count"],
        "mark": os.environ.get("LOG_FN_MARK"),
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
