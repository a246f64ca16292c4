"""SELLER_NETWORK from pictures in a real Scrapy crawl: pictures fetched over loopback, hashed,
looked up in the reference library and the seen-image index (SQLite), then matched.

Planted: two storefronts of one operator posting the same two product photos (re-encoded,
mirrored, resized); two unrelated shops sharing one supplier photo; three honest resellers
posting the brand's genuine photo; two shops posting certificate scans of one layout with
different numbers. Only the network is linked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image

from marketguard.image_index import ReferenceLibrary
from tests.image_samples import encode, jpeg, photo, text_picture

REPO = Path(__file__).resolve().parent.parent


def _pictures() -> dict[str, bytes]:
    first, second, supplier = photo(71, (640, 640)), photo(72, (640, 640)), photo(73)
    return {
        "/net-1.jpg": jpeg(first),
        "/net-2.jpg": jpeg(second),
        "/net-1-copy.jpg": jpeg(first.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 60),
        "/net-2-copy.webp": encode(second.resize((420, 420)), "WEBP", quality=70),
        "/supplier.jpg": jpeg(supplier),
        "/own-a.jpg": jpeg(photo(74)),
        "/own-b.jpg": jpeg(photo(75)),
        "/genuine.jpg": jpeg(photo(76, (700, 700))),
        **{
            f"/cert-{n}.png": text_picture(["中国国家强制性产品认证证书", f"证书编号：{n}"])
            for n in ("2023010901000001", "2023010901000002", "2021010901999999")
        },
    }


class _Handler(BaseHTTPRequestHandler):
    pictures: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.pictures.get(self.path, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    _Handler.pictures = _pictures()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    work = tmp_path_factory.mktemp("network-pass")
    home = work / "home"
    with ReferenceLibrary.in_home(home) as library:
        library.add("安克", _Handler.pictures["/genuine.jpg"], "genuine.jpg")
        library.authorise("安克", ["t:honest-a", "t:honest-b", "t:honest-c"])

    def item(listing_id: str, seller: str, *pictures: str) -> dict[str, Any]:
        return {
            "listing_id": listing_id,
            "url": f"{base}/item/{listing_id}",
            "title": "时尚手机壳",  # no catalogue category: only the seller and image rules
            "seller": seller,
            "image_urls": [base + p for p in pictures],
            "brand": "安克",
        }

    listings = [
        item("N1", "net-a", "/net-1.jpg", "/net-2.jpg"),
        item("N2", "net-b", "/net-1-copy.jpg", "/net-2-copy.webp"),
        item("S1", "one-a", "/supplier.jpg", "/own-a.jpg"),
        item("S2", "one-b", "/supplier.jpg", "/own-b.jpg"),
        item("H1", "honest-a", "/genuine.jpg", "/own-a.jpg"),
        item("H2", "honest-b", "/genuine.jpg"),
        item("H3", "honest-c", "/genuine.jpg"),
        item("C1", "cert-a", "/cert-2023010901000001.png", "/cert-2021010901999999.png"),
        item("C2", "cert-b", "/cert-2023010901000002.png", "/cert-2021010901999999.png"),
    ]
    source = work / "listings.json"
    source.write_text(json.dumps(listings, ensure_ascii=False), encoding="utf-8")
    out = work / "out.jsonl"
    try:
        # One listing after another: which shop is "the second" is defined by arrival.
        settings = ["CONCURRENT_ITEMS=1", "MARKETGUARD_OCR=never"]
        command = [sys.executable, "-m", "tests.images_pass", str(source), str(out), str(home)]
        result = subprocess.run(
            [*command, *settings],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    rows.pop()  # stats
    return {row["listing_id"]: row for row in rows}


def _network(row: dict[str, Any]) -> dict[str, Any] | None:
    return next((f for f in row["flags"] if f["rule_id"] == "SELLER_NETWORK"), None)


def test_two_storefronts_sharing_two_pictures_are_linked(crawled: dict[str, Any]) -> None:
    assert _network(crawled["N1"]) is None  # the first storefront: nobody posted them before
    flag = _network(crawled["N2"])
    assert flag is not None, crawled["N2"]["flags"]
    assert "t:net-a" in flag["reason"] and "商品图片" in flag["reason"]
    assert flag["field"] == "seller"


def test_one_shared_supplier_photo_is_no_network(crawled: dict[str, Any]) -> None:
    assert _network(crawled["S1"]) is None and _network(crawled["S2"]) is None


def test_honest_resellers_sharing_the_brand_photo_are_not_flagged(crawled: dict[str, Any]) -> None:
    for listing_id in ("H1", "H2", "H3"):
        assert crawled[listing_id]["flags"] == [], (listing_id, crawled[listing_id]["flags"])


def test_certificate_scans_of_one_layout_link_nobody(crawled: dict[str, Any]) -> None:
    # Same layout, other numbers (and one certificate both show): a 64-bit hash cannot tell
    # them apart, so greyscale pictures never link shops.
    for listing_id in ("C1", "C2"):
        assert _network(crawled[listing_id]) is None
        assert all(s["linkable"] is False for s in crawled[listing_id]["signals"])
