"""The notify Lambda (placeholder so that `sam build` has a handler; replaced by the gateway work)."""


def handler(event, context):  # replaced by the gateway work
    return None
