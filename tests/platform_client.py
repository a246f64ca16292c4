"""A small platform-side client, written as a platform engineer would from docs/platform-feed.md:
pull with the cursor, acknowledge, and receive webhooks on a real loopback HTTP server,
checking the HMAC signature with its own code (not the server's)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


def verify_signature(
    secret: str, header: str, body: bytes, now: float, tolerance: float = 300
) -> bool:
    """``t=<unix>,v1=<hex>``; hex = HMAC-SHA256(secret, f"{t}." + body)."""
    parts = {}
    for item in header.split(","):
        key, _, value = item.partition("=")
        parts[key.strip()] = value.strip()
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        return False
    if abs(now - int(parts["t"])) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


class PlatformClient:
    """Pulls new notices and reports back. Keeps its cursor like a real integration would."""

    def __init__(self, http: httpx.Client, api_key: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.cursor: str | None = None
        self.pages: list[dict[str, Any]] = []

    def page(self, *, limit: int = 100, cursor: str | None = None, **params: Any) -> httpx.Response:
        query = {"limit": limit, **params}
        if cursor:
            query["next"] = cursor
        return self.http.get("/feed/v1/notices", params=query, headers=self.headers)

    def pull_new(self, limit: int = 100) -> list[dict[str, Any]]:
        """Everything added since the last pull, page by page."""
        found: list[dict[str, Any]] = []
        while True:
            response = self.page(limit=limit, cursor=self.cursor)
            response.raise_for_status()
            envelope = response.json()
            self.pages.append(envelope)
            found.extend(envelope["objects"])
            self.cursor = envelope["next"]
            if not envelope["more"]:
                return found

    def report(self, notice_id: str, status: str, reason: str = "") -> httpx.Response:
        return self.http.post(
            f"/feed/v1/notices/{notice_id}/status",
            json={"status": status, "reason": reason},
            headers=self.headers,
        )

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path, headers=self.headers)


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1. Answers ``fail_with`` to the first ``failures``
    requests, then 204; keeps the events whose signature checks out (deduplicated by the
    delivery id) and counts those that do not."""

    def __init__(
        self, secret: str, now: Callable[[], float] = time.time, failures: int = 0
    ) -> None:
        self.secret = secret
        self.now = now
        self.failures = failures
        self.fail_with = 500
        self.events: list[dict[str, Any]] = []
        self.delivery_ids: set[str] = set()
        self.bad_signatures = 0
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests += 1
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(receiver.fail_with)
                    self.end_headers()
                    return
                header = self.headers.get("X-MarketGuard-Signature", "")
                if not verify_signature(receiver.secret, header, body, receiver.now()):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                delivery = self.headers.get("X-MarketGuard-Delivery", "")
                if delivery not in receiver.delivery_ids:  # a replay is not a new event
                    receiver.delivery_ids.add(delivery)
                    receiver.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)
