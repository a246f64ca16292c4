"""ImagePipeline in a real Scrapy crawl: images from a loopback HTTP server, the reference
library and seen-image index in SQLite, OCR, bad pictures as counted PageErrors."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image

from marketguard.image_index import ReferenceLibrary, SeenImages
from tests.image_samples import encode, jpeg, photo, png_header_only, text_picture

REPO = Path(__file__).resolve().parent.parent
INVALID_NUMBER = "20230116091234"  # 14 digits: a CCC certificate number has 16


def _images() -> dict[str, bytes]:
    genuine = photo(51, (700, 700))
    shared = photo(52, (640, 640))
    return {
        "/genuine.jpg": jpeg(genuine),
        "/genuine-mirrored.jpg": jpeg(genuine.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 50),
        "/shared-a.jpg": jpeg(shared),
        "/shared-b.jpg": jpeg(shared.transpose(Image.Transpose.ROTATE_90), 60),
        "/shared-c.webp": encode(shared.resize((400, 400)), "WEBP", quality=70),
        "/other.jpg": jpeg(photo(53)),
        "/truncated.jpg": jpeg(photo(54))[:2000],
        "/bomb.png": png_header_only(30_000, 30_000),
        "/huge.jpg": jpeg(photo(55, (3000, 3000)), 98),  # above the byte limit set below
        "/page.jpg": b"<html><body>login required</body></html>",
        "/card.png": text_picture(["快速充电器 20W", f"3C证书编号：{INVALID_NUMBER}"]),
    }


class _Handler(BaseHTTPRequestHandler):
    images: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.images.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    _Handler.images = _images()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _listing(listing_id: str, seller: str, base: str, *images: str, **more: Any) -> dict[str, Any]:
    return {
        "listing_id": listing_id,
        "url": f"{base}/item/{listing_id}",
        "title": more.pop("title", "时尚手机壳"),
        "seller": seller,
        "image_urls": [base + path for path in images],
        **more,
    }


@pytest.fixture(scope="module")
def crawled(image_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = image_server
    work = tmp_path_factory.mktemp("images-pass")
    home = work / "home"
    with ReferenceLibrary.in_home(home) as library:
        library.add("安克", _images()["/genuine.jpg"], "genuine.jpg")
        library.authorise("安克", ["t:official"])
    listings = [
        _listing("L1", "official", base, "/genuine.jpg", brand="安克"),
        _listing("L2", "copycat", base, "/genuine-mirrored.jpg", brand="安克"),
        _listing("L3", "shop-a", base, "/shared-a.jpg"),
        _listing("L4", "shop-b", base, "/shared-b.jpg", "/shared-b.jpg"),
        _listing("L5", "shop-c", base, "/shared-c.webp", "/other.jpg"),
        _listing(
            "L6",
            "shop-d",
            base,
            "/truncated.jpg",
            "/bomb.png",
            "/huge.jpg",
            "/page.jpg",
            "/missing.jpg",
            "/other.jpg",
        ),
        _listing("L7", "shop-e", base, "/card.png", title="快速充电器 20W 手机通用"),
        # the same spec card in a second listing: read once
        _listing("L8", "shop-e", base, "/card.png", title="快速充电器 PD快充头"),
    ]
    path = work / "listings.json"
    path.write_text(json.dumps(listings, ensure_ascii=False), encoding="utf-8")
    out = work / "out.jsonl"
    # One listing after another: "the third shop" is only defined in arrival order.
    settings = ["CONCURRENT_ITEMS=1", "MARKETGUARD_IMAGE_MAX_BYTES=200000", "MARKETGUARD_OCR=auto"]
    result = subprocess.run(
        [sys.executable, "-m", "tests.images_pass", str(path), str(out), str(home), *settings],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    stats = rows.pop()["stats"]
    return {
        "by_id": {r["listing_id"]: r for r in rows},
        "stats": stats,
        "base": base,
        "home": home,
        "log": result.stderr,
    }


def _rules(row: dict[str, Any]) -> set[str]:
    return {f["rule_id"] for f in row["flags"]}


def test_every_listing_is_assessed_whatever_its_images(crawled: dict[str, Any]) -> None:
    assert set(crawled["by_id"]) == {"L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8"}
    assert "Traceback" not in crawled["log"]


def test_official_photo_reuse_is_flagged_only_for_the_unauthorised_seller(
    crawled: dict[str, Any],
) -> None:
    by_id = crawled["by_id"]
    assert "IMAGE_OFFICIAL_REUSED" not in _rules(by_id["L1"])
    flag = next(f for f in by_id["L2"]["flags"] if f["rule_id"] == "IMAGE_OFFICIAL_REUSED")
    assert flag["field"] == f"image:{crawled['base']}/genuine-mirrored.jpg"
    assert "genuine-mirrored.jpg" in flag["snippet"] and "安克" in flag["reason"]


def test_picture_in_three_shops_flags_the_third(crawled: dict[str, Any]) -> None:
    by_id = crawled["by_id"]
    # Items of a crawl are processed concurrently: whichever of the three shops' listings came
    # last is the third shop with the picture, and only it is flagged.
    flagged = [
        (listing_id, f)
        for listing_id in ("L3", "L4", "L5")
        for f in by_id[listing_id]["flags"]
        if f["rule_id"] == "IMAGE_SHARED_ACROSS_SHOPS"
    ]
    assert len(flagged) == 1
    listing_id, flag = flagged[0]
    picture = {"L3": "shared-a.jpg", "L4": "shared-b.jpg", "L5": "shared-c.webp"}[listing_id]
    assert flag["field"] == f"image:{crawled['base']}/{picture}"
    assert "3家" in flag["snippet"]
    shops = {"L3": "t:shop-a", "L4": "t:shop-b", "L5": "t:shop-c"}
    for other, shop in shops.items():
        assert (shop in flag["reason"]) == (other != listing_id)
    # the genuine photo, posted by two shops, is left to IMAGE_OFFICIAL_REUSED
    assert "IMAGE_SHARED_ACROSS_SHOPS" not in _rules(by_id["L2"])
    with SeenImages.in_home(crawled["home"]) as seen:
        # L1-L4 one picture each (L4's two URLs are one), L5 two, L6 "other"; L7's black and
        # white spec card is not counted (count_greyscale: false)
        assert len(seen) == 7


def test_bad_pictures_are_counted_page_errors(crawled: dict[str, Any]) -> None:
    errors = crawled["by_id"]["L6"]["errors"]
    assert all(e["kind"] == "image" for e in errors)
    by_url = {e["url"].rsplit("/", 1)[1]: e["message"] for e in errors}
    assert set(by_url) == {"truncated.jpg", "bomb.png", "huge.jpg", "page.jpg", "missing.jpg"}
    assert by_url["truncated.jpg"].startswith("truncated")
    assert by_url["bomb.png"].startswith("too_large")
    assert "fetch failed" in by_url["huge.jpg"]
    assert by_url["page.jpg"].startswith("not_image")
    assert by_url["missing.jpg"] == "HTTP 404"
    stats = crawled["stats"]
    assert stats["marketguard/images/errors"] == 5
    assert stats["marketguard/images/unreadable/too_large"] == 1


def test_ocr_text_reaches_the_ccc_rules(crawled: dict[str, Any]) -> None:
    row = crawled["by_id"]["L7"]
    flag = next(f for f in row["flags"] if f["rule_id"] == "CCC_NUMBER_INVALID")
    assert flag["field"] == f"image:{crawled['base']}/card.png"
    assert INVALID_NUMBER in flag["snippet"] + flag["reason"]
    assert "CCC_MISSING" not in _rules(row)
    (card,) = row["signals"]
    assert INVALID_NUMBER in card["ocr_text"].replace(" ", "") and "快速充电器" in card["ocr_text"]
    # a black-and-white spec card cannot tell shops apart: not for linking shops
    assert card["linkable"] is False
    photos = crawled["by_id"]["L3"]["signals"]
    assert photos[0]["linkable"] is True and photos[0]["ocr_text"] == ""
    # auto mode: only the chargers (a CCC category) were read, not the phone cases, and the
    # card both chargers show was read once
    assert crawled["stats"]["marketguard/images/ocr"] == 1
    assert crawled["stats"]["marketguard/images/ocr_cached"] == 1
    again = crawled["by_id"]["L8"]
    assert "CCC_NUMBER_INVALID" in _rules(again) and "CCC_MISSING" not in _rules(again)


def test_image_step_is_on_unless_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from scrapy.exceptions import NotConfigured
    from scrapy.utils.test import get_crawler

    from crawlers.pipelines.images import ImagePipeline
    from crawlers.run import PIPELINES

    assert "crawlers.pipelines.images.ImagePipeline" in PIPELINES
    monkeypatch.delenv("MARKETGUARD_IMAGES", raising=False)
    monkeypatch.delenv("MARKETGUARD_OCR", raising=False)
    pipeline = ImagePipeline.from_crawler(get_crawler(settings_dict={"MARKETGUARD_HOME": "/tmp/x"}))
    # hashing, the image rules and OCR where it can change a flag (docs/images.md, Defaults)
    assert pipeline.ocr_mode == "auto" and pipeline.thresholds.shared_radius == 3
    monkeypatch.setenv("MARKETGUARD_IMAGES", "0")
    with pytest.raises(NotConfigured):
        ImagePipeline.from_crawler(get_crawler(settings_dict={"MARKETGUARD_HOME": "/tmp/x"}))
    off = {"MARKETGUARD_HOME": "/tmp/x", "MARKETGUARD_IMAGES": "false"}
    monkeypatch.delenv("MARKETGUARD_IMAGES")
    with pytest.raises(NotConfigured):
        ImagePipeline.from_crawler(get_crawler(settings_dict=off))
    with pytest.raises(ValueError, match="MARKETGUARD_IMAGES"):
        ImagePipeline.from_crawler(
            get_crawler(
                settings_dict={"MARKETGUARD_HOME": "/tmp/x", "MARKETGUARD_IMAGES": "sometimes"}
            )
        )
    monkeypatch.setenv("MARKETGUARD_OCR", "never")
    pipeline = ImagePipeline.from_crawler(get_crawler(settings_dict={"MARKETGUARD_HOME": "/tmp/x"}))
    assert pipeline.ocr_mode == "never"
