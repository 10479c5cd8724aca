"""A small loopback webhook receiver for tests: records every POST and answers a settable status."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from swapgate_dev.serving import Served, serve_in_thread, stop_serving, wait_for_items


class ReceivedWebhook(NamedTuple):
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes
    json: Any  # None when the body is not JSON


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 refuses connections when many webhooks come at once


class WebhookReceiver(Served):
    """``WebhookReceiver(status=200)``; ``start()``, ``url`` (``<base>/hook``), ``received``,
    ``wait_for(n, timeout)``, ``stop()``; also a context manager."""

    def __init__(self, status: int = 200, host: str = "127.0.0.1", port: int = 0) -> None:
        self.status = status
        self.host, self.port = host, port
        self._received: list[ReceivedWebhook] = []
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + "/hook"

    @property
    def received(self) -> list[ReceivedWebhook]:
        with self._cond:
            return list(self._received)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedWebhook]:
        """Block until ``n`` webhooks arrived; return them. Raises ``TimeoutError``."""
        return wait_for_items(self._cond, lambda: self._received, n, timeout, "webhooks")

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                with receiver._cond:
                    receiver._received.append(ReceivedWebhook(self.path, dict(self.headers), body, parsed))
                    receiver._cond.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = serve_in_thread(self._server, poll_interval=0.02)
        return self

    def stop(self) -> None:
        stop_serving(self._server, self._thread, timeout=5)
        self._server = self._thread = None
