"""The receiver snippet in docs/webhooks.md (or the README it is merged into) runs and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from swapgate.signing import sign_webhook

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_" + "c3dhcGdhdGUtZG9jcy1zbmlwcGV0LXNlY3JldC0zMmI="
MARKER = "def handle(body: bytes, headers: dict[str, str]) -> int:"


def snippet() -> str:
    for path in (ROOT / "docs" / "webhooks.md", ROOT / "README.md"):
        if path.exists():
            for block in re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S):
                if MARKER in block:
                    return block
    pytest.fail("no receiver snippet with swapgate.signing.verify_webhook in docs/webhooks.md or README.md")


def test_receiver_snippet_accepts_signed_and_refuses_forged_deliveries():
    seen: set[str] = set()
    namespace = {"already_seen": lambda message_id: message_id in seen or seen.add(message_id)}
    code = (
        snippet().replace('SECRET = "whsec_..."', f"SECRET = {SECRET!r}").replace("    ...  #", "    pass  #")
    )
    exec(compile(code, "webhooks.md", "exec"), namespace)  # noqa: S102
    handle = namespace["handle"]

    body = b'{"id":"job_1","status":"succeeded"}'
    headers = sign_webhook("msg_job_1_succeeded", body.decode(), SECRET)
    assert handle(body, headers) == 200
    assert handle(body, headers) == 200 and seen == {"msg_job_1_succeeded"}  # a retry: deduplicated
    assert handle(body.replace(b"succeeded", b"failed"), headers) == 401
    assert handle(body, {**headers, "webhook-signature": "v1,AAAA"}) == 401
