"""A tiny task handler for the Step Functions tests: adds one, or raises when asked."""


class TaskRefused(Exception):
    pass


def handler(event, context):
    if event.get("fail"):
        raise TaskRefused("asked to fail")
    return {"n": event["n"] + 1, "function": context.function_name}
