"""Serve the demo marketplace over HTTP/1.1 on loopback, in a background thread.

``ThreadingHTTPServer`` with keep-alive (every response has a Content-Length, headers and body go
out in one write, Nagle off) so a Scrapy crawl reuses its connections and the shop is rarely the
bottleneck. No per-request logging.

    with DemoServer(generate(seed=7, listings=300)) as shop:
        print(shop.url)  # http://127.0.0.1:41234
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from demo import pages
from demo.generator import FAULT_BROKEN_HTML, FAULT_HTTP_500, Marketplace
from demo.images import ImageStore

Reply = tuple[int, str, bytes]


class DemoApp:
    """Routes a path to ``(status, content type, body)``; usable without any socket."""

    def __init__(self, marketplace: Marketplace, cache_size: int = 4096) -> None:
        self.marketplace = marketplace
        self.images = ImageStore(marketplace)
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], Reply] = OrderedDict()
        self._lock = threading.Lock()
        self._ground_truth: bytes | None = None

    def handle(self, target: str, origin: str) -> Reply:
        """Answer a GET of ``target`` (path and query); ``origin`` is "http://host:port"."""
        key = (target, origin)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        reply, cacheable = self._route(target, origin)
        if cacheable:
            with self._lock:
                self._cache[key] = reply
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return reply

    def _route(self, target: str, origin: str) -> tuple[Reply, bool]:
        parts = urlsplit(target)
        path = unquote(parts.path)
        market = self.marketplace
        if path == "/":
            return (200, pages.HTML_UTF8, pages.home_page(market)), True
        if path == "/robots.txt":
            return (200, "text/plain; charset=utf-8", pages.ROBOTS_TXT), True
        if path == "/search":
            query = parse_qs(parts.query)
            q = query.get("q", [""])[0]
            try:
                page = max(1, int(query.get("page", ["1"])[0]))
            except ValueError:
                page = 1
            return (200, pages.HTML_UTF8, pages.search_page(market, q, page)), True
        if path.startswith("/item/"):
            listing = market.listing(path.removeprefix("/item/"))
            if listing is None:
                return self._not_found(path), False
            if listing.fault == FAULT_HTTP_500:
                return (500, pages.HTML_UTF8, pages.server_error_page()), False
            if listing.fault == FAULT_BROKEN_HTML:
                return (200, pages.HTML_UTF8, pages.broken_page(listing)), True
            body, content_type = pages.item_page(market, listing, origin)
            return (200, content_type, body), True
        if path.startswith("/api/item/") and path.endswith(".json"):
            listing = market.listing(path.removeprefix("/api/item/").removesuffix(".json"))
            if listing is None or listing.fault == FAULT_HTTP_500:
                return self._not_found(path), False
            return (200, pages.JSON_UTF8, pages.item_json(market, listing)), True
        if path.startswith("/shop/"):
            shop = market.shop(path.removeprefix("/shop/"))
            if shop is None:
                return self._not_found(path), False
            if shop.failing:
                return (500, pages.HTML_UTF8, pages.server_error_page()), False
            return (200, pages.HTML_UTF8, pages.shop_page(shop)), True
        if path.startswith("/img/"):
            image = self.images.get(path.removeprefix("/img/"))
            if image is None:
                return self._not_found(path), False
            body, media_type = image
            return (200, media_type, body), False  # ImageStore caches images itself
        if path == "/ground-truth.json":
            if self._ground_truth is None:
                self._ground_truth = json.dumps(
                    market.ground_truth(), ensure_ascii=False, sort_keys=True
                ).encode("utf-8")
            return (200, pages.JSON_UTF8, self._ground_truth), False
        return self._not_found(path), False

    @staticmethod
    def _not_found(path: str) -> Reply:
        return 404, pages.HTML_UTF8, pages.not_found_page(path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DemoShop/1.0"
    disable_nagle_algorithm = True  # headers and body are one write anyway; no 40 ms stalls
    server: _Server

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        host = self.headers.get("Host") or self.server.default_host
        try:
            status, content_type, body = self.server.app.handle(self.path, f"http://{host}")
        except Exception:  # a bug in the demo must look like a server error, not a hang
            status, content_type, body = 500, pages.HTML_UTF8, pages.server_error_page()
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
            f"Server: {self.server_version}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "\r\n"
        ).encode("latin-1")
        self.wfile.write(head + body if send_body else head)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    app: DemoApp
    default_host: str


class DemoServer:
    """The demo shop on ``host:port`` (port 0 picks a free one), serving from construction on.

    Use it as a context manager, or call ``stop()``. ``url`` is "http://host:port".
    """

    def __init__(self, marketplace: Marketplace, host: str = "127.0.0.1", port: int = 0) -> None:
        self.marketplace = marketplace
        self.app = DemoApp(marketplace)
        self._server = _Server((host, port), _Handler)
        self._server.app = self.app
        self.host = host
        self.port = int(self._server.server_address[1])
        self._server.default_host = f"{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
            name=f"demo-shop-{self.port}",
        )
        self._thread.start()
        self._stopped = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Block until ``stop()`` is called from another thread (or the process is killed)."""
        self._thread.join()

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
