"""A loopback HTTP server for the saved marketplace pages in tests/fixtures/site_pages.

Serves them the way real platforms do, including the wrong parts: GBK bytes under a header that
says UTF-8, or a charset only in <meta>. Every request path is logged so tests can check what
was (not) fetched.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PAGES = Path(__file__).resolve().parent / "fixtures" / "site_pages"
UTF8 = "text/html; charset=utf-8"
OFFSITE_ORIGINS = (b"https://evil.example.com", b"https://ads.example.net")
ROBOTS = b"User-agent: *\nDisallow: /private/\n"

# path -> (file, Content-Type as the server sends it)
STATIC: dict[str, tuple[str, str]] = {
    "/item/1001.html": ("mall_item_1001.html", UTF8),
    "/item/1002.html": ("mall_item_1002.html", UTF8),
    "/item/1003.html": ("mall_item_1003.html", UTF8),
    "/shop/88.html": ("mall_shop_88.html", UTF8),
    "/shop/99.html": ("mall_shop_99.html", UTF8),
    "/s": ("tb_search.html", UTF8),
    "/goods/501": ("next_goods_501.html", UTF8),
    "/goods/502": ("next_goods_502.html", UTF8),
    "/wap/goods.html": ("wap_item.html", UTF8),
    # GBK bytes, header claims UTF-8: the classic misconfigured Chinese server.
    "/offer_search": ("gbk_search.html", UTF8),
    "/p/gbk": ("gbk_product.html", UTF8),
    "/p/gbk-no-header": ("gbk_product.html", "text/html"),
    "/p/jsonld": ("jsonld_product.html", UTF8),
    "/p/microdata": ("microdata_product.html", UTF8),
    "/p/rdfa": ("rdfa_product.html", UTF8),
    "/p/opengraph": ("opengraph_product.html", UTF8),
    "/p/plain": ("plain_product.html", UTF8),
    "/p/broken": ("broken_product.html", UTF8),
    "/private/item.html": ("jsonld_product.html", UTF8),
    "/api/search": ("api_search.json", "application/json"),
}


class FixtureSite:
    """``with FixtureSite() as site: site.url`` -> ``http://127.0.0.1:PORT``."""

    def __init__(self, offsite_origin: str = "") -> None:
        # Offsite links in the pages (evil.example.com, ads.example.net) are rewritten to point
        # at ``offsite_origin``: a trap server that proves the crawler never followed them.
        self.offsite_origin = offsite_origin.encode()
        self.requests: list[str] = []
        self.cookies: list[str] = []  # the Cookie header of each request ("" when none)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                owner.cookies.append(self.headers.get("Cookie", ""))
                status, content_type, body = owner.route(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def route(self, raw_path: str) -> tuple[int, str, bytes]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        if parts.path == "/robots.txt":
            return 200, "text/plain", ROBOTS
        if parts.path == "/search" and "kw" in query:
            return 200, UTF8, self._rewrite((PAGES / "next_search.html").read_bytes())
        if parts.path == "/search":
            page = query.get("page", ["1"])[0]
            if page in ("1", "2"):
                return 200, UTF8, self._rewrite((PAGES / f"mall_search_{page}.html").read_bytes())
        if parts.path in STATIC:
            name, content_type = STATIC[parts.path]
            return 200, content_type, self._rewrite((PAGES / name).read_bytes())
        return 404, UTF8, b"<html><body><h1>404</h1></body></html>"

    def _rewrite(self, body: bytes) -> bytes:
        if not self.offsite_origin:
            return body
        for origin in OFFSITE_ORIGINS:
            body = body.replace(origin, self.offsite_origin)
        return body

    def fetched(self, path_prefix: str) -> int:
        return sum(1 for p in self.requests if p.startswith(path_prefix))

    def __enter__(self) -> FixtureSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
