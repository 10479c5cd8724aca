"""A tiny task handler for the Step Functions tests: adds one, or raises (or sleeps) when asked."""

import time


class TaskRefused(Exception):
    pass


def handler(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise TaskRefused("asked to fail")
    return {"n": event["n"] + 1, "function": context.function_name}
