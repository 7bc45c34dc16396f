"""A real webhook receiver for the sandbox tests: a threaded HTTP server in the test process.

It checks each delivery on its own terms (gzip, then base64 HMAC-SHA256 of ``timestamp + "." + body``
computed here with ``hmac``), so the sandbox's signing code is tested, not trusted. The check uses the
secret the receiver holds for the delivery's ``X-Webhook-ID`` when the check is made, so a test may
learn a secret (say, of an invitation's callback_url subscription) after its first deliveries arrived.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fixtures.net import free_port


@dataclass
class Delivery:
    headers: dict[str, str]
    raw: bytes
    body: bytes | None
    envelope: dict[str, Any] | None
    answered: int
    path: str
    secrets: dict[str, str] = field(repr=False, default_factory=dict)  # the receiver's, by webhook id

    @property
    def signature_valid(self) -> bool:
        """Signed with the secret the receiver now holds for this delivery's subscription."""
        secret = self.secrets.get(self.headers.get("x-webhook-id", ""))
        if self.body is None or secret is None:
            return False
        expected = expected_signature(secret, self.headers.get("x-catena-timestamp", ""), self.body)
        return hmac.compare_digest(expected, self.headers.get("x-catena-signature", ""))


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()
    ).decode()


class Receiver:
    """Records every delivery; ``respond`` decides the status code (default 202)."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.respond: Callable[[Delivery], int] = lambda _delivery: 202
        self.delay_seconds = 0.0
        self.gate: threading.Event | None = None  # when set, each request waits for it before answering
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.handle(self.path, dict(self.headers.items()), raw)
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                if receiver.gate is not None:
                    receiver.gate.wait(30)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        headers = {k.lower(): v for k, v in headers.items()}
        body = envelope = None
        try:
            body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else None
            envelope = json.loads(body) if body is not None else None
        except (OSError, ValueError):
            body = envelope = None
        delivery = Delivery(headers, raw, body, envelope, 0, path, self.secrets)
        status = self.respond(delivery)
        delivery.answered = status
        with self._lock:
            self.deliveries.append(delivery)
        return status

    def events(self, event_name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                d.envelope
                for d in self.deliveries
                if d.envelope is not None and (event_name is None or d.envelope["event_name"] == event_name)
            ]

    def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                names = [e["event_name"] for e in self.events()]
                raise TimeoutError(f"receiver condition not met within {timeout}s; got {names}")
            time.sleep(0.02)

    def wait_for_events(self, *names: str, timeout: float = 20.0) -> None:
        self.wait_for(lambda r: all(r.events(name) for name in names), timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
