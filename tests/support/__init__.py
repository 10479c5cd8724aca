"""The test harness: the real functions in-process (``support.functions``), template.yaml deployed in
moto with those functions wired to it (``support.deployment``), and the pytest fixtures
(``support.fixtures``, registered in tests/conftest.py). The local stack's own builders make the
events, load the handlers and read the template, so the tests and ``make dev`` run alike."""

from support.deployment import (
    API_KEY,
    BUCKET,
    EVENTS,
    FACES,
    OTHER_API_KEY,
    PROVIDER_KEY,
    WEBHOOK_SECRET,
    Deployment,
)
from support.functions import ROOT, TEMPLATE, Answer, api_event, lambda_context, load_function, proxy_answer

__all__ = [
    "API_KEY",
    "BUCKET",
    "EVENTS",
    "FACES",
    "OTHER_API_KEY",
    "PROVIDER_KEY",
    "ROOT",
    "TEMPLATE",
    "WEBHOOK_SECRET",
    "Answer",
    "Deployment",
    "api_event",
    "lambda_context",
    "load_function",
    "proxy_answer",
]
