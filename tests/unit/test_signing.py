"""Signatures: provider callback tokens and Standard Webhooks signing, checked against the spec's
reference implementation (the ``standardwebhooks`` package) and against the spec's own HMAC recipe."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook
from swapgate import signing
from swapgate.signing import (
    MissingSecret,
    WebhookVerificationError,
    callback_token,
    check_callback_token,
    sign_webhook,
    verify_webhook,
)

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
BODY = json.dumps({"id": "job_1", "status": "succeeded"}, separators=(",", ":"))


def test_signature_follows_the_spec_recipe():
    when = datetime(2026, 1, 15, 10, 0, 0, tzinfo=UTC)
    headers = sign_webhook("msg_job_1_succeeded", BODY, SECRET, timestamp=when)

    assert headers["webhook-id"] == "msg_job_1_succeeded"
    assert headers["webhook-timestamp"] == str(int(when.timestamp()))
    # v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under the base64-decoded secret>
    expected = hmac.new(KEY, f"msg_job_1_succeeded.{int(when.timestamp())}.{BODY}".encode(), hashlib.sha256)
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected.digest()).decode()


def test_signed_delivery_verifies_with_the_helper_and_the_reference_package():
    headers = sign_webhook("msg_a", BODY, SECRET)

    assert verify_webhook(BODY.encode(), headers, SECRET) == json.loads(BODY)
    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)
    # header names are case-insensitive, as HTTP delivers them
    assert verify_webhook(BODY, {k.title(): v for k, v in headers.items()}, SECRET)["status"] == "succeeded"


def test_reference_package_signatures_verify_with_the_helper():
    now = datetime.now(UTC)
    signature = Webhook(SECRET).sign(msg_id="msg_b", timestamp=now, data=BODY)
    headers = {
        "webhook-id": "msg_b",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    assert verify_webhook(BODY, headers, SECRET)["id"] == "job_1"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace("succeeded", "failed"), headers),
        lambda body, headers: (body, {**headers, "webhook-id": "msg_other"}),
        lambda body, headers: (
            body,
            {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
        ),
        lambda body, headers: (body, {k: v for k, v in headers.items() if k != "webhook-signature"}),
        lambda body, headers: (body, {**headers, "webhook-signature": "garbage"}),
        lambda body, headers: (body, {**headers, "webhook-signature": "v1,!!!notbase64"}),
        lambda body, headers: (b"\xff\xfe", headers),
    ],
    ids=["body", "id", "timestamp", "no-signature", "malformed", "bad-base64", "not-utf8"],
)
def test_tampered_or_malformed_deliveries_are_rejected(tamper):
    body, headers = tamper(BODY, sign_webhook("msg_c", BODY, SECRET))
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, SECRET)


def test_wrong_secret_is_rejected():
    headers = sign_webhook("msg_d", BODY, SECRET)
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret-32").decode()
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, other)


def test_stale_timestamps_are_rejected():
    old = datetime.now(UTC) - timedelta(minutes=6)
    headers = sign_webhook("msg_e", BODY, SECRET, timestamp=old)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, SECRET)
    recent = datetime.now(UTC) - timedelta(minutes=4)
    assert verify_webhook(BODY, sign_webhook("msg_e", BODY, SECRET, timestamp=recent), SECRET)


def test_webhook_secret_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SWAPGATE_WEBHOOK_SECRET", SECRET)
    assert signing.webhook_secret() == SECRET
    monkeypatch.delenv("SWAPGATE_WEBHOOK_SECRET")
    monkeypatch.delenv("SWAPGATE_WEBHOOK_SECRET_PARAM", raising=False)
    with pytest.raises(MissingSecret) as caught:
        signing.webhook_secret()
    assert "SWAPGATE_WEBHOOK_SECRET" in caught.value.message


def test_callback_tokens(monkeypatch):
    monkeypatch.setenv("SWAPGATE_SIGNING_SECRET", "s3cret")
    token = callback_token("job_1")
    assert token == hmac.new(b"s3cret", b"callback:job_1", hashlib.sha256).hexdigest()
    assert check_callback_token("job_1", token)
    assert not check_callback_token("job_2", token)
    assert not check_callback_token("job_1", token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not check_callback_token("job_1", None) and not check_callback_token("job_1", "")
    monkeypatch.setenv("SWAPGATE_SIGNING_SECRET", "rotated")
    assert not check_callback_token("job_1", token)
    monkeypatch.delenv("SWAPGATE_SIGNING_SECRET")
    monkeypatch.delenv("SWAPGATE_SIGNING_SECRET_PARAM", raising=False)
    with pytest.raises(MissingSecret):
        callback_token("job_1")
