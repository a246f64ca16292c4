"""Browser capture against real Chromium and a real HTTP server on 127.0.0.1.

One capturer (one browser) serves the whole module on one event loop that the tests drive with
``run_until_complete`` -- the capture code runs inside a running loop, as in Scrapy's pipeline.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PIL import Image, ImageDraw, ImageFont

from evidence.capture import Capturer, capture_sync
from evidence.capture_id import new_capture_id
from evidence.errors import CaptureError
from evidence.hashing import sha256_bytes
from evidence.listing_images import ImageUnreadable, check_image, resolve_image_urls
from marketguard.models import Evidence
from marketguard.settings import Settings

pytestmark = pytest.mark.browser

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CHROMIUM = Settings().chromium
if not Path(CHROMIUM).exists():
    pytest.skip(f"Chromium not installed at {CHROMIUM}", allow_module_level=True)

T = TypeVar("T")


# --- the test site ------------------------------------------------------------------------


def _png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG", quality=90)
    return buf.getvalue()


RED_PNG = _png((200, 200), (255, 0, 0))
BLUE_PNG = _png((120, 80), (0, 0, 255))
GREEN_JPEG = _jpeg((64, 48), (0, 160, 0))
CORRUPT_JPEG = b"\xff\xd8 this is not really a JPEG, just bytes with a JPEG name"
TRUNCATED_PNG = _png((300, 300), (9, 99, 199))[:90]

LAZY_LOADER = """
<script>
const seen = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (e.isIntersecting) { e.target.src = e.target.dataset.src; seen.unobserve(e.target); }
  }
});
document.querySelectorAll("img[data-src]").forEach((img) => seen.observe(img));
</script>
"""

# A GBK listing page exactly 3000 px tall, with a photo below the fold that only an
# IntersectionObserver loads (as marketplaces do) and one with native lazy loading.
LISTING_GBK = (
    """<!doctype html>
<html><head><meta charset="gbk"><title>儿童安全座椅 正品3C认证</title>
<style>body{margin:0;font-family:"Noto Sans CJK SC",sans-serif}</style></head>
<body><div style="height:3000px;position:relative;overflow:hidden">
<h1>儿童安全座椅 ISOFIX 正品3C认证</h1>
<p>价格：￥299.00　卖家：宝贝安全专营店　发货地：浙江宁波</p>
<img src="/img/blue.png" width="120" height="80">
<img data-src="/img/red.png" style="position:absolute;top:2600px;left:0;width:200px;height:200px">
<img loading="lazy" src="/img/green.jpg"
     style="position:absolute;top:2600px;left:400px;width:200px;height:200px">
</div>"""
    + LAZY_LOADER
    + "</body></html>"
).encode("gbk")

JS_RENDERED = """<!doctype html><html><head><meta charset="utf-8"><title>移动电源</title></head>
<body><h1 id="title">加载中</h1><div id="price"></div>
<script>
window.addEventListener("load", () => {
  fetch("/api/listing").then((r) => r.json()).then((d) => {
    document.getElementById("title").textContent = d.title;
    document.getElementById("price").textContent = "售价 ¥" + d.price;
  });
});
</script></body></html>""".encode()

CJK_TEMPLATE = """<!doctype html><html><head><meta charset="utf-8">
<style>body{{margin:0;background:#fff}}
#t{{position:absolute;left:20px;top:20px;font:96px/1 "Noto Sans CJK SC";color:#000;
white-space:nowrap}}</style></head><body><div id="t">{text}</div></body></html>"""

# Shows what an earlier capture could have left behind, then leaves some state itself.
STATE_PAGE = b"""<!doctype html><meta charset=utf-8><title>state</title><body><script>
let idb = "none";
document.body.insertAdjacentHTML("beforeend",
  "<p id=cookie>[" + document.cookie + "]</p><p id=storage>[" +
  (localStorage.getItem("seen") || "") + "][" + (sessionStorage.getItem("seen") || "") + "]</p>");
document.cookie = "seen=yes; max-age=3600";
localStorage.setItem("seen", "yes");
sessionStorage.setItem("seen", "yes");
</script></body>"""

ERROR_500 = "<!doctype html><meta charset=utf-8><h1>服务器内部错误</h1>".encode()
HANGING_IMAGE = b"<!doctype html><meta charset=utf-8><h1>ok</h1><img src='/hang'>"
SPINNING_SCRIPT = (
    b"<!doctype html><meta charset=utf-8><h1>busy</h1>"
    b"<script>addEventListener('load', () => setTimeout(() => { for (;;) {} }, 50));</script>"
)


@dataclass
class Site:
    port: int
    release: threading.Event
    served: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _routes() -> dict[str, tuple[int, str, bytes]]:
    return {
        "/listing": (200, "text/html; charset=gbk", LISTING_GBK),
        "/js": (200, "text/html; charset=utf-8", JS_RENDERED),
        "/api/listing": (
            200,
            "application/json",
            json.dumps({"title": "20000mAh 快充移动电源", "price": "39.90"}).encode(),
        ),
        "/cjk/a": (200, "text/html", CJK_TEMPLATE.format(text="充电宝正品").encode()),
        "/cjk/b": (200, "text/html", CJK_TEMPLATE.format(text="儿童安全座").encode()),
        "/state/a": (200, "text/html; charset=utf-8", STATE_PAGE),
        "/state/b": (200, "text/html; charset=utf-8", STATE_PAGE),
        "/error500": (500, "text/html; charset=utf-8", ERROR_500),
        "/data.json": (200, "application/json", b'{"not": "a page"}'),
        "/hanging-image": (200, "text/html", HANGING_IMAGE),
        "/spinning-script": (200, "text/html", SPINNING_SCRIPT),
        "/img/red.png": (200, "image/png", RED_PNG),
        "/img/blue.png": (200, "image/png", BLUE_PNG),
        "/img/green.jpg": (200, "image/jpeg", GREEN_JPEG),
        "/img/corrupt.jpg": (200, "image/jpeg", CORRUPT_JPEG),
        "/img/truncated.png": (200, "image/png", TRUNCATED_PNG),
    }


def _start_site() -> tuple[ThreadingHTTPServer, Site]:
    routes = _routes()
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            site: Site = self.server.site  # type: ignore[attr-defined]
            path = self.path.split("?", 1)[0]
            with site.lock:
                site.requests.append(path)
            if path == "/hang":
                release.wait(20)
                return
            if path.startswith("/slow/"):
                self._slow(site)
                return
            if path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/listing.gz")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path == "/listing.gz":
                self._send(200, "text/html; charset=gbk", gzip.compress(LISTING_GBK), gzip=True)
                return
            status, content_type, body = routes.get(path, (404, "text/html", b"not found"))
            self._send(status, content_type, body)

        def _slow(self, site: Site) -> None:
            with site.lock:
                site.in_flight += 1
                site.max_in_flight = max(site.max_in_flight, site.in_flight)
            try:
                time.sleep(0.4)
            finally:
                with site.lock:
                    site.in_flight -= 1
            body = f"<!doctype html><meta charset=utf-8><h1>{self.path}</h1>".encode()
            self._send(200, "text/html; charset=utf-8", body)

        def _send(self, status: int, content_type: str, body: bytes, gzip: bool = False) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if gzip:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser gave up on the request; nothing to serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site = Site(port=server.server_port, release=release)
    site.served = {p: body for p, (_s, _c, body) in routes.items()}
    server.site = site  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, site


class BlobDir:
    """A real content-addressed store on disk: the same contract as ``Archive.put_blob``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put_blob(self, data: bytes) -> str:
        # Called from worker threads, possibly twice at once with the same bytes.
        digest = sha256_bytes(data)
        path = self.root / digest[:2] / digest
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return digest

    def read(self, digest: str) -> bytes:
        return (self.root / digest[:2] / digest).read_bytes()


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    server, site = _start_site()
    yield site
    site.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> BlobDir:
    return BlobDir(tmp_path_factory.mktemp("blobs"))


@pytest.fixture(scope="module")
def capturer(loop: asyncio.AbstractEventLoop, blobs: BlobDir) -> Iterator[Capturer]:
    settings = Settings(capture_concurrency=2)
    cap = Capturer(
        settings, blobs.put_blob, operator="测试员 王", navigation_timeout=2.0, settle_cap=1.5
    )
    loop.run_until_complete(cap.__aenter__())
    yield cap
    loop.run_until_complete(cap.__aexit__(None, None, None))


@pytest.fixture(scope="module")
def run(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, T]], T]:
    return loop.run_until_complete


@pytest.fixture(scope="module")
def listing(
    capturer: Capturer, site: Site, run: Callable[[Coroutine[Any, Any, Evidence]], Evidence]
) -> Evidence:
    return run(
        capturer.capture(
            url=site.url("/listing"),
            platform="testmall",
            listing_id="L1",
            image_urls=[
                "/img/blue.png",  # relative: resolved against the page URL
                site.url("/img/green.jpg"),
                site.url("/img/corrupt.jpg"),
                site.url("/img/truncated.png"),
                site.url("/img/missing.jpg"),
                site.url("/img/blue.png"),  # duplicate of the first, fetched once
            ],
        )
    )


# --- the listing capture ------------------------------------------------------------------


def test_capture_stores_every_kind_under_its_sha256(listing: Evidence, blobs: BlobDir) -> None:
    kinds = [a.kind for a in listing.artifacts]
    # in the order they were taken
    assert kinds[:4] == ["html", "screenshot", "first_screen", "dom"]
    assert kinds.count("image") == 2
    assert kinds[-1] == "metadata"
    for artifact in listing.artifacts:
        data = blobs.read(artifact.sha256)
        assert sha256_bytes(data) == artifact.sha256
        assert len(data) == artifact.size


def test_evidence_fields_are_filled(listing: Evidence, site: Site) -> None:
    assert len(listing.capture_id) == 26
    assert listing.url == listing.final_url == site.url("/listing")
    assert listing.http_status == 200
    assert listing.finished_at is not None
    assert listing.started_at < listing.finished_at
    assert listing.started_at.utcoffset() is not None and not listing.started_at.utcoffset()
    assert listing.browser_version.startswith("chromium ")
    assert listing.browser_version.split()[1][0].isdigit()
    assert "Chrome/" in listing.user_agent
    assert listing.viewport == "1280x800"
    assert listing.tool_version.startswith("marketguard ")


def test_screenshot_is_full_page_png_with_lazy_images(listing: Evidence, blobs: BlobDir) -> None:
    shot = listing.artifact("screenshot")
    assert shot is not None and shot.media_type == "image/png"
    image = Image.open(io.BytesIO(blobs.read(shot.sha256)))
    assert image.format == "PNG"
    assert image.size == (1280, 3000)  # the whole page, not the 800 px viewport
    rgb = image.convert("RGB")
    # Both photos 2600 px down load only when scrolled into view.
    assert rgb.getpixel((100, 2700)) == (255, 0, 0)  # IntersectionObserver lazy loader
    r, g, b = rgb.getpixel((500, 2700))  # native loading="lazy" JPEG
    assert g > 120 and r < 40 and b < 40


def test_html_is_byte_identical_to_what_the_server_sent(
    listing: Evidence, blobs: BlobDir, site: Site
) -> None:
    html = listing.artifact("html")
    assert html is not None
    assert html.media_type == "text/html; charset=gbk"
    data = blobs.read(html.sha256)
    assert data == site.served["/listing"]
    assert "儿童安全座椅".encode("gbk") in data  # GBK bytes kept, not re-encoded to UTF-8


def test_redirect_is_recorded_and_gzip_is_undone_but_not_the_charset(
    capturer: Capturer, site: Site, blobs: BlobDir, run: Callable[..., Any]
) -> None:
    evidence = run(capturer.capture(url=site.url("/moved"), platform="t", listing_id="gz"))
    assert evidence.url == site.url("/moved")
    assert evidence.final_url == site.url("/listing.gz")
    html = evidence.artifact("html")
    assert html is not None
    assert blobs.read(html.sha256) == LISTING_GBK  # gunzipped as any browser does, still GBK
    meta = json.loads(blobs.read(evidence.artifact("metadata").sha256))  # type: ignore[union-attr]
    assert meta["redirects"] == [site.url("/moved")]
    assert meta["response_headers"]["content-encoding"] == "gzip"
    # The WARC has the redirect hop too, and the decoded body with its original encoding noted.
    from warcio.archiveiterator import ArchiveIterator

    wacz = zipfile.ZipFile(io.BytesIO(blobs.read(evidence.artifact("wacz").sha256)))  # type: ignore[union-attr]
    responses = {
        r.rec_headers.get_header("WARC-Target-URI"): (r.http_headers, r.content_stream().read())
        for r in ArchiveIterator(io.BytesIO(wacz.read("archive/data.warc.gz")))
        if r.rec_type == "response"
    }
    hop_headers, _ = responses[site.url("/moved")]
    assert hop_headers.get_statuscode() == "302"
    assert hop_headers.get_header("Location") == "/listing.gz"
    final_headers, body = responses[site.url("/listing.gz")]
    assert body == LISTING_GBK
    assert final_headers.get_header("X-Archive-Orig-content-encoding") == "gzip"
    assert final_headers.get_header("Content-Length") == str(len(LISTING_GBK))


def test_dom_is_utf8_and_opens_correctly_from_disk(listing: Evidence, blobs: BlobDir) -> None:
    dom = listing.artifact("dom")
    assert dom is not None and dom.media_type == "text/html; charset=utf-8"
    data = blobs.read(dom.sha256)
    assert data.startswith(b"\xef\xbb\xbf")  # beats the page's own <meta charset="gbk">
    text = data.decode("utf-8-sig")
    assert "儿童安全座椅 ISOFIX 正品3C认证" in text
    assert 'src="/img/red.png"' in text  # the lazy loader ran before the DOM was taken


def test_images_are_checked_and_bad_ones_reported(listing: Evidence, blobs: BlobDir) -> None:
    images = [a for a in listing.artifacts if a.kind == "image"]
    assert [(a.source_url.rsplit("/", 1)[1], a.media_type) for a in images] == [
        ("blue.png", "image/png"),
        ("green.jpg", "image/jpeg"),
    ]
    assert blobs.read(images[0].sha256) == BLUE_PNG
    assert len(listing.errors) == 3
    corrupt, truncated, missing = listing.errors
    assert corrupt.startswith("image http://127.0.0.1:")
    assert corrupt.endswith("/img/corrupt.jpg unreadable: cannot identify image file")
    assert "/img/truncated.png unreadable: " in truncated
    assert missing.endswith("/img/missing.jpg not fetched: HTTP 404")
    for bad in (CORRUPT_JPEG, TRUNCATED_PNG):
        assert sha256_bytes(bad) not in {a.sha256 for a in listing.artifacts}


def test_images_the_page_loaded_are_taken_from_its_responses_not_fetched_again(
    listing: Evidence, blobs: BlobDir, site: Site
) -> None:
    from evidence.web_archive import read_warc_records

    records = read_warc_records(blobs.read(listing.artifact("wacz").sha256))
    responses = [(url, body) for kind, url, body in records if kind == "response"]
    urls = [url for url, _ in responses]
    # The page showed blue and green; corrupt, truncated and missing it never requested.
    for name in ("blue.png", "green.jpg", "corrupt.jpg", "truncated.png"):
        assert urls.count(site.url(f"/img/{name}")) == 1, name
    images = {a.source_url: blobs.read(a.sha256) for a in listing.artifacts if a.kind == "image"}
    assert images == {url: body for url, body in responses if url in images}
    meta = json.loads(blobs.read(listing.artifact("metadata").sha256))
    step = next(s for s in meta["procedure"] if "listing images" in s)
    assert step.startswith("5 listing images: 2 taken from the page's own HTTP 200 response")
    assert "3 fetched through the page's browser context" in step
    assert step.endswith("2 decoded with Pillow and kept")


def test_metadata_is_the_manifest_of_the_capture(listing: Evidence, blobs: BlobDir) -> None:
    meta_artifact = listing.artifact("metadata")
    assert meta_artifact is not None and meta_artifact.media_type == "application/json"
    meta = json.loads(blobs.read(meta_artifact.sha256).decode("utf-8"))
    others = [a for a in listing.artifacts if a.kind != "metadata"]
    assert [(m["kind"], m["media_type"], m["size"], m["sha256"]) for m in meta["artifacts"]] == [
        (a.kind, a.media_type, a.size, a.sha256) for a in others
    ]
    for listed in meta["artifacts"]:
        assert sha256_bytes(blobs.read(listed["sha256"])) == listed["sha256"]
    assert meta["hash_algorithm"] == "SHA-256"
    assert meta["capture_id"] == listing.capture_id
    assert meta["url"] == listing.url and meta["final_url"] == listing.final_url
    assert meta["http_status"] == 200
    assert meta["browser"]["name"] == "chromium"
    assert listing.browser_version == f"chromium {meta['browser']['version']}"
    assert meta["user_agent"] == listing.user_agent
    assert meta["started_at"] == listing.started_at.isoformat()
    assert meta["finished_at"] == listing.finished_at.isoformat()  # type: ignore[union-attr]
    assert meta["started_at"].endswith("+00:00")
    assert "system clock" in meta["clock_source"] and "UTC" in meta["clock_source"]
    assert (meta["viewport"], meta["locale"], meta["timezone"]) == (
        "1280x800",
        "zh-CN",
        "Asia/Shanghai",
    )
    assert meta["os"] and meta["tool"] == listing.tool_version
    assert meta["operator"] == "测试员 王"
    assert meta["errors"] == listing.errors
    assert meta["response_headers"]["content-type"] == "text/html; charset=gbk"
    assert meta["server_address"] == f"127.0.0.1:{listing.url.split(':')[2].split('/')[0]}"
    assert any("scrolled to the bottom" in step for step in meta["procedure"])
    env = meta["environment"]
    assert env["browser"] == listing.browser_version
    assert env["user_agent"] == listing.user_agent
    assert env["viewport"] == "1280x800" and env["browser_timezone"] == "Asia/Shanghai"
    assert "system clock" in env["clock_source"]
    assert env["os"] and env["playwright"][0].isdigit()
    assert env["network"].startswith("direct connection from 127.0.0.1 to 127.0.0.1:")
    assert meta["investigators"] == ["测试员 王"]
    assert meta["title"] == "儿童安全座椅 正品3C认证"


def test_first_screen_is_the_viewport_and_full_page_the_whole_height(
    listing: Evidence, blobs: BlobDir
) -> None:
    first = Image.open(io.BytesIO(blobs.read(listing.artifact("first_screen").sha256)))
    full = Image.open(io.BytesIO(blobs.read(listing.artifact("screenshot").sha256)))
    assert first.size == (1280, 800)
    assert full.size == (1280, 3000)
    # The first screen is the top of the page, pixel for pixel.
    assert first.convert("RGB").tobytes() == full.convert("RGB").crop((0, 0, 1280, 800)).tobytes()


def test_wacz_holds_the_raw_responses_and_validates(
    listing: Evidence, blobs: BlobDir, site: Site, tmp_path: Path
) -> None:
    from evidence.web_archive import read_warc_records

    artifact = listing.artifact("wacz")
    assert artifact is not None and artifact.media_type == "application/wacz"
    data = blobs.read(artifact.sha256)
    records = read_warc_records(data)
    responses = {url: body for kind, url, body in records if kind == "response"}
    requests = {url for kind, url, _ in records if kind == "request"}
    assert records[0][0] == "warcinfo"
    assert responses[site.url("/listing")] == LISTING_GBK  # as served, GBK bytes
    assert responses[site.url("/img/red.png")] == RED_PNG  # loaded only by scrolling
    assert responses[site.url("/img/green.jpg")] == GREEN_JPEG
    assert responses[site.url("/img/blue.png")] == BLUE_PNG
    assert set(responses) <= requests
    with zipfile.ZipFile(io.BytesIO(data)) as wacz:
        assert wacz.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
        index = wacz.read("indexes/index.cdx").decode()
        assert "sha256:" in index and "/listing" in index
    path = tmp_path / "capture.wacz"
    path.write_bytes(data)
    wacz_cli = Path(sys.executable).with_name("wacz")
    proc = subprocess.run(
        [str(wacz_cli), "validate", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation succeeded" in proc.stdout


def test_a_reused_tab_carries_nothing_from_the_previous_capture(
    capturer: Capturer, site: Site, blobs: BlobDir, run: Callable[..., Any]
) -> None:
    assert capturer.isolation == "tab"
    reused = 0
    for path in ("/state/a", "/state/b", "/state/a", "/state/b"):
        evidence = run(capturer.capture(url=site.url(path), platform="t", listing_id=path))
        dom = blobs.read(evidence.artifact("dom").sha256).decode("utf-8-sig")
        assert '<p id="cookie">[]</p>' in dom, dom
        assert '<p id="storage">[][]</p>' in dom, dom
        meta = json.loads(blobs.read(evidence.artifact("metadata").sha256))  # type: ignore[union-attr]
        reused += meta["procedure"][0].startswith("browser tab reused")
    # The module's capturer has parked tabs by now: most of these ran in a reused one, which
    # had visited this very origin (and set its cookie and storage) in an earlier capture.
    assert reused >= 2


# --- rendering ----------------------------------------------------------------------------


def _ink(image: Image.Image, size: tuple[int, int] = (240, 48)) -> list[bool]:
    """Dark pixels of a text image, cropped to the ink and scaled to a fixed grid."""
    grey = image.convert("L")
    mask = grey.point(lambda v: 255 if v < 128 else 0)
    box = mask.getbbox()
    assert box is not None, "no ink at all"
    scaled = mask.crop(box).resize(size)
    return [v > 127 for v in scaled.tobytes()]


def _agreement(a: list[bool], b: list[bool]) -> float:
    """Intersection over union of two ink masks."""
    both = sum(x and y for x, y in zip(a, b, strict=True))
    either = sum(x or y for x, y in zip(a, b, strict=True))
    return both / either


def _pillow_text(text: str) -> Image.Image:
    font = ImageFont.truetype(str(CJK_FONT), 96, index=2)  # index 2: Noto Sans CJK SC
    image = Image.new("L", (700, 160), 255)
    ImageDraw.Draw(image).text((20, 20), text, font=font, fill=0)
    return image


@pytest.mark.skipif(not CJK_FONT.exists(), reason="fonts-noto-cjk not installed")
def test_chinese_renders_as_real_glyphs_not_tofu(
    capturer: Capturer, site: Site, blobs: BlobDir, run: Callable[..., Any]
) -> None:
    async def both() -> list[Evidence]:
        return list(
            await asyncio.gather(
                capturer.capture(url=site.url("/cjk/a"), platform="t", listing_id="a"),
                capturer.capture(url=site.url("/cjk/b"), platform="t", listing_id="b"),
            )
        )

    shots = []
    for evidence in run(both()):
        shot = evidence.artifact("screenshot")
        assert shot is not None
        shots.append(Image.open(io.BytesIO(blobs.read(shot.sha256))).crop((0, 0, 700, 160)))
    a_ink, b_ink = _ink(shots[0]), _ink(shots[1])
    # Missing-glyph boxes would be five identical rectangles on both pages.
    assert _agreement(a_ink, b_ink) < 0.5
    # Each screenshot matches Pillow's rendering of its own words with the Noto CJK font
    # far better than the other words: the glyphs are the real characters.
    ref_a, ref_b = _ink(_pillow_text("充电宝正品")), _ink(_pillow_text("儿童安全座"))
    # (Measured here: about 0.99 against its own words, 0.30 against the other words.)
    assert _agreement(a_ink, ref_a) > 0.8
    assert _agreement(b_ink, ref_b) > 0.8
    assert _agreement(a_ink, ref_a) > _agreement(a_ink, ref_b) + 0.3
    assert _agreement(b_ink, ref_b) > _agreement(b_ink, ref_a) + 0.3


def test_js_rendered_content_is_in_the_dom_not_the_served_html(
    capturer: Capturer, site: Site, blobs: BlobDir, run: Callable[..., Any]
) -> None:
    evidence = run(capturer.capture(url=site.url("/js"), platform="t", listing_id="js"))
    dom = blobs.read(evidence.artifact("dom").sha256).decode("utf-8-sig")  # type: ignore[union-attr]
    served = blobs.read(evidence.artifact("html").sha256).decode("utf-8")  # type: ignore[union-attr]
    assert "20000mAh 快充移动电源" in dom and "售价 ¥39.90" in dom
    assert "20000mAh" not in served


# --- failures -----------------------------------------------------------------------------


def test_http_500_page_is_still_evidence(
    capturer: Capturer, site: Site, blobs: BlobDir, run: Callable[..., Any]
) -> None:
    evidence = run(capturer.capture(url=site.url("/error500"), platform="t", listing_id="e"))
    assert evidence.http_status == 500
    assert {"screenshot", "html", "dom", "metadata"} <= {a.kind for a in evidence.artifacts}
    assert blobs.read(evidence.artifact("html").sha256) == ERROR_500  # type: ignore[union-attr]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_url_raises_capture_error_quickly(
    capturer: Capturer, run: Callable[..., Any]
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/item/1"
    capturer.navigation_timeout, saved = 30.0, capturer.navigation_timeout
    try:
        started = time.monotonic()
        with pytest.raises(CaptureError) as caught:
            run(capturer.capture(url=url, platform="t", listing_id="gone"))
        elapsed = time.monotonic() - started
    finally:
        capturer.navigation_timeout = saved
    assert elapsed < 5  # refused at once, not after the 30 s navigation timeout
    assert str(caught.value) == (
        f"capture of {url} failed: connection refused (net::ERR_CONNECTION_REFUSED)"
    )
    assert caught.value.url == url


def test_navigation_timeout_raises_capture_error(
    capturer: Capturer, site: Site, run: Callable[..., Any]
) -> None:
    with pytest.raises(CaptureError, match=r"/hang failed: navigation timed out after 2 s"):
        run(capturer.capture(url=site.url("/hang"), platform="t", listing_id="slow"))


def test_non_html_response_raises_capture_error(
    capturer: Capturer, site: Site, run: Callable[..., Any]
) -> None:
    with pytest.raises(CaptureError, match=r"not an HTML page \(Content-Type: application/json\)"):
        run(capturer.capture(url=site.url("/data.json"), platform="t", listing_id="json"))


def test_hanging_subresource_does_not_lose_the_page(
    capturer: Capturer, site: Site, run: Callable[..., Any]
) -> None:
    evidence = run(capturer.capture(url=site.url("/hanging-image"), platform="t", listing_id="h"))
    assert evidence.http_status == 200
    assert evidence.artifact("screenshot") is not None
    assert any("load event did not fire" in e for e in evidence.errors)


def test_page_that_never_yields_is_cut_off_by_the_capture_timeout(
    capturer: Capturer, site: Site, run: Callable[..., Any]
) -> None:
    capturer.capture_timeout, saved = 4.0, capturer.capture_timeout
    try:
        started = time.monotonic()
        with pytest.raises(CaptureError, match=r"did not finish within 4 s"):
            run(capturer.capture(url=site.url("/spinning-script"), platform="t", listing_id="s"))
        assert time.monotonic() - started < 8
    finally:
        capturer.capture_timeout = saved
    # The slot and the browser are free again.
    evidence = run(capturer.capture(url=site.url("/cjk/a"), platform="t", listing_id="after"))
    assert evidence.http_status == 200


# --- one browser, many captures -----------------------------------------------------------


def test_concurrent_captures_share_one_browser_within_the_limit(
    capturer: Capturer, site: Site, run: Callable[..., Any]
) -> None:
    site.max_in_flight = 0

    async def many() -> list[Evidence]:
        return list(
            await asyncio.gather(
                *(
                    capturer.capture(url=site.url(f"/slow/{i}"), platform="t", listing_id=str(i))
                    for i in range(4)
                )
            )
        )

    results = run(many())
    assert [e.final_url for e in results] == [site.url(f"/slow/{i}") for i in range(4)]
    assert len({e.capture_id for e in results}) == 4
    assert site.max_in_flight == 2  # ran in parallel, but never beyond capture_concurrency
    assert capturer.browser_launches == 1


def _chromium_browser_pids() -> list[int]:
    """Chromium main processes started under this test process (not renderers, not others')."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])

    def descends_from_us(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    found = []
    for pid in parents:
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        # Child processes (zygote, renderer, GPU) carry --type=; zygotes rewrite their
        # cmdline into one string, so search the whole of it.
        is_browser = Path(exe).name == "chromium" and b"--type=" not in cmdline
        if is_browser and descends_from_us(pid):
            found.append(pid)
    return found


def test_browser_launches_lazily_and_relaunches_after_dying(
    site: Site, blobs: BlobDir, run: Callable[..., Any]
) -> None:
    other_browsers = set(_chromium_browser_pids())  # the module's capturer has one too
    cap = Capturer(Settings(), blobs.put_blob)  # never entered: the first capture launches
    try:
        assert cap.browser_launches == 0
        first = run(cap.capture(url=site.url("/slow/a"), platform="t", listing_id="a"))
        assert cap.browser_launches == 1 and first.http_status == 200

        ours = set(_chromium_browser_pids()) - other_browsers
        assert len(ours) == 1
        os.kill(ours.pop(), signal.SIGKILL)

        again = run(cap.capture(url=site.url("/slow/b"), platform="t", listing_id="b"))
        assert again.http_status == 200 and again.artifact("screenshot") is not None
        assert cap.browser_launches == 2
    finally:
        run(cap.aclose())


def test_capture_sync_runs_its_own_loop_and_refuses_inside_one(site: Site, blobs: BlobDir) -> None:
    evidence = capture_sync(
        Settings(), blobs.put_blob, url=site.url("/cjk/a"), platform="t", listing_id="sync"
    )
    assert evidence.artifact("screenshot") is not None

    async def inside() -> None:
        capture_sync(
            Settings(), blobs.put_blob, url=site.url("/listing"), platform="t", listing_id="x"
        )

    with pytest.raises(RuntimeError, match="running event loop"):
        asyncio.run(inside())


# --- small pieces -------------------------------------------------------------------------


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size, as a decompression bomb does."""
    data = bytearray(_png((1, 1), (0, 0, 0)))
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[12:29] = ihdr
    data[29:33] = zlib.crc32(bytes(ihdr)).to_bytes(4, "big")
    return bytes(data)


def test_check_image_refuses_decompression_bombs() -> None:
    with pytest.raises(ImageUnreadable, match="decompression bomb"):
        check_image(_png_claiming(30_000, 30_000))


def test_check_image_reads_real_images() -> None:
    assert check_image(GREEN_JPEG) == ("image/jpeg", 64, 48)
    assert check_image(BLUE_PNG) == ("image/png", 120, 80)
    with pytest.raises(ImageUnreadable, match="cannot identify image file"):
        check_image(CORRUPT_JPEG)


def test_resolve_image_urls() -> None:
    base = "https://item.example.cn/p/1.html"
    assert resolve_image_urls(
        ["//img.example.cn/a.jpg", "b.jpg", " //img.example.cn/a.jpg ", "https://x.cn/c.png"],
        base,
    ) == ["https://img.example.cn/a.jpg", "https://item.example.cn/p/b.jpg", "https://x.cn/c.png"]


def test_capture_ids_sort_by_time() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    ids = [new_capture_id(t0 + timedelta(milliseconds=ms)) for ms in (0, 1, 1000, 86_400_000)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert all(len(i) == 26 for i in ids)
