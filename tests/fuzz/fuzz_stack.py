"""The stack the fuzz tests attack: template.yaml's resources in moto (in-process), the real API and
callback handlers behind the API Gateway emulator on loopback, the provider fakes behind them.

``Target.send`` makes one request over HTTP through the emulator (what API Gateway would pass on);
``Target.invoke`` hands a handler an event directly (for what API Gateway never builds but a handler
must still survive: bad base64 under ``isBase64Encoded``, lone surrogates, odd shapes). Both check
the answer: under 500, JSON, and no handler raised. ``Target.cases`` counts what was sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from support import proxy_answer
from swapgate import signing
from swapgate.providers import registry
from swapgate_dev.fakes import FakeAifaceswap, FakeTtapi, make_png
from swapgate_dev.local import ApiGatewayEmulator, provision
from swapgate_dev.local.aws import MotoServer
from swapgate_dev.local.sam import SamTemplate

TEMPLATE = Path(__file__).parents[2] / "template.yaml"
API_KEY = "fuzz-key"
OTHER_KEY = "fuzz-key-2"
SIGNING_SECRET = "fuzz-signing-secret"
#: every case sent, by family (the terminal summary prints them)
CASES: dict[str, int] = {}


def run_cases(
    target: Target,
    family: str,
    count: int,
    strategy: st.SearchStrategy,
    send: Callable,
    *,
    exhaustible: bool = False,
) -> int:
    """Send ``count`` generated cases of ``family`` (``send(target, case)``), reproducibly: a fixed
    seed, no example database, no deadline (the machine may be loaded), no shrinking (a failure names
    its request; shrinking would resend hundreds). Checks they were all sent, unless the strategy has
    fewer distinct cases (``exhaustible``). Returns how many were sent."""
    before = CASES.get(family, 0)

    @settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    @given(strategy)
    def cases(case: Any) -> None:
        send(target, case)

    cases()
    sent = CASES.get(family, 0) - before
    assert exhaustible or sent >= count, f"{family}: {sent} cases, fewer than planned"
    return sent


class _Raised(logging.Handler):
    """Collects the emulator's 'handler raised' records (each is an unhandled exception)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Target:
    emulator: ApiGatewayEmulator
    session: requests.Session
    raised: _Raised
    job_ids: dict[str, str] = field(default_factory=dict)  # provider -> a real job of API_KEY

    @property
    def url(self) -> str:
        return self.emulator.url

    def count(self, family: str) -> None:
        CASES[family] = CASES.get(family, 0) + 1

    def send(
        self,
        family: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """One request through the emulator (``kwargs`` as ``requests`` takes them), its answer checked."""
        url = path if path.startswith("http") else self.url + path
        return self.request(family, method=method, url=url, headers=headers, data=body, **kwargs)

    def request(self, family: str, **kwargs: Any) -> requests.Response:
        self.count(family)
        before = len(self.raised.records)
        response = self.session.request(**kwargs, timeout=60)
        what = f"{kwargs['method']} {kwargs['url']}"
        check_answer(response.status_code, response.content, what, response.headers)
        assert len(self.raised.records) == before, self.raised.records[before:]
        return response

    def invoke(self, family: str, function: str, event: dict[str, Any]) -> Any:
        """Hand ``event`` to a function's handler as Lambda would; the proxy answer, checked."""
        self.count(family)
        handler = self.emulator.functions[function]
        result = handler.invoke(event)
        answer = proxy_answer(result)
        raw = result.get("body") or ""
        check_answer(
            answer.status, raw.encode() if isinstance(raw, str) else raw, event["path"], answer.headers
        )
        return answer


def check_answer(status: int, body: bytes, what: str, headers: Any) -> None:
    assert status < 500, f"{what} answered {status}: {body[:500]!r}"
    content_type = (headers.get("Content-Type") or headers.get("content-type") or "").lower()
    if content_type.startswith("text/html"):  # the Swagger UI page
        return
    assert content_type.startswith("application/json"), f"{what}: {content_type!r}"
    json.loads(body or b"null")


def _environment() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SWAPGATE_SIGNING_SECRET": SIGNING_SECRET,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    raised = _Raised()
    api_log = logging.getLogger("swapgate_dev.local.api")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _environment().items():
            patch.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "SWAPGATE_STATE_MACHINE_ARN", "SWAPGATE_NOTIFY_QUEUE_URL"):
            patch.delenv(name, raising=False)
        registry.clear_cache()
        # a moto server, not an in-process mock: the handlers run in execution environments of their own
        moto = MotoServer("127.0.0.1", 0)
        moto.start()
        with (
            FakeAifaceswap(api_key="provider-key", delay=0.05) as aifaceswap,
            FakeTtapi(api_key="provider-key", delay=0.05) as ttapi,
        ):
            patch.setenv("AWS_ENDPOINT_URL", moto.url)
            deployment = provision.deploy(provision.plan(SamTemplate(TEMPLATE), endpoint_url=moto.url))
            env = {
                **_environment(),
                "AWS_ENDPOINT_URL": moto.url,
                "SWAPGATE_API_KEYS": f"{API_KEY},{OTHER_KEY}",
                "SWAPGATE_ALLOW_PRIVATE_URLS": "1",
                "SWAPGATE_RATE_LIMIT_PER_MINUTE": "100000000",
                "AIFACESWAP_API_KEY": "provider-key",
                "AIFACESWAP_BASE_URL": aifaceswap.base_url,
                "TTAPI_API_KEY": "provider-key",
                "TTAPI_BASE_URL": ttapi.base_url,
            }
            api_log.addHandler(raised)
            try:
                with (
                    ApiGatewayEmulator(TEMPLATE, port=0, env=env, deployment=deployment) as emulator,
                    requests.Session() as session,
                ):
                    target = Target(emulator, session, raised)
                    target.job_ids = _seed_jobs(target)
                    yield target
            finally:
                api_log.removeHandler(raised)
                moto.stop()
        registry.clear_cache()


def _seed_jobs(target: Target) -> dict[str, str]:
    """One real job on each provider, so that ids and callback tokens can name something."""
    png = make_png("fuzz", 8)
    jobs = {}
    for provider in ("aifaceswap", "ttapi"):
        response = target.session.post(
            f"{target.url}/v1/swaps",
            headers={"x-api-key": API_KEY},
            files={"source_image": ("a.png", png, "image/png"), "face_image": ("b.png", png, "image/png")},
            data={"provider": provider},
            timeout=60,
        )
        assert response.status_code == 202, response.text
        jobs[provider] = job_id = response.json()["id"]
        # ended (canceled, unless its webhook was faster): callbacks for it never download anything
        canceled = target.session.post(
            f"{target.url}/v1/swaps/{job_id}/cancel", headers={"x-api-key": API_KEY}, timeout=60
        )
        assert canceled.json()["status"] in ("canceled", "succeeded"), canceled.text
    return jobs


def callback_token(job_id: str) -> str:
    return signing.callback_token(job_id)


__all__ = ["API_KEY", "CASES", "OTHER_KEY", "Target", "callback_token", "run_cases"]
