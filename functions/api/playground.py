"""The playground page at ``GET /``: ``playground/index.html`` with its stylesheet and script inlined.

The files stay plain HTML, CSS and JS (no build step; ``index.html`` opened from disk loads the other
two by their relative links). Served as one response, the page needs no further routes and works at
any stage path; its Content-Security-Policy allows exactly the inlined style and script (by hash),
requests to this API only, and images from files the person picks and from result links.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response

ASSETS = Path(__file__).resolve().parent / "playground"
STYLESHEET_TAG = '<link rel="stylesheet" href="playground.css">'
SCRIPT_TAG = '<script src="playground.js"></script>'


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def page() -> tuple[str, dict[str, str]]:
    """The page and its headers, built once per execution environment."""
    html = (ASSETS / "index.html").read_text(encoding="utf-8")
    css = (ASSETS / "playground.css").read_text(encoding="utf-8")
    js = (ASSETS / "playground.js").read_text(encoding="utf-8")
    if STYLESHEET_TAG not in html or SCRIPT_TAG not in html:
        raise RuntimeError("playground/index.html must link playground.css and playground.js")
    html = html.replace(STYLESHEET_TAG, f"<style>{css}</style>").replace(SCRIPT_TAG, f"<script>{js}</script>")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_digest(js)}",
            f"style-src {_digest(css)}",
            "img-src blob: data: http: https:",  # picked files; result links (the bucket, any host)
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return html, headers


def playground_response() -> Response:
    html, headers = page()
    return Response(
        status_code=200, content_type="text/html; charset=utf-8", body=html, headers=dict(headers)
    )
