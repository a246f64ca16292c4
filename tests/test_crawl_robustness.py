"""Surviving the real web: backoff retries, resume after a kill, incremental passes, gone listings.

Every crawl is a real pass (``crawlers.run.run_pass`` or the ``marketguard crawl`` CLI) in a child
process, against the demo marketplace served over loopback HTTP by a server of this file that can
answer 500, 503, 429 with Retry-After, hang past the download timeout, or 404 on chosen paths.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from crawlers.jobs import JobMismatchError, load_job, start_or_resume
from crawlers.middlewares.backoff import backoff_delay, retry_after_seconds
from demo.generator import Marketplace, generate
from demo.server import DemoApp
from evidence.archive.sqlite import SqliteArchive
from marketguard.models import Listing, PageError, utcnow

REPO_ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = ["充电器", "复合肥"]


# --- a demo shop whose pages can fail on purpose -------------------------------------------------
class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a killed or timing-out crawler resets connections; that is the test's point


class FaultyShop:
    """The demo marketplace on loopback, with scripted faults per path and a request log.

    ``script[path]`` is a list of actions consumed one per request ("500", "503", "429:<s>" with
    Retry-After, "hang:<s>" never to answer, "404", "ok"); ``always[path]`` repeats one forever.
    ``hold_items_after(n, count)`` answers the first n listing pages, holds the next ``count``
    until ``release()`` and answers the rest: a crawl killed while pages are held is certainly
    mid-pass. (Holding every later page would fill the host's 16 download slots and stall
    the shop pages the stored listings wait for.)
    """

    def __init__(self, market: Marketplace) -> None:
        self.market = market
        self.app = DemoApp(market)
        self.script: dict[str, list[str]] = {}
        self.always: dict[str, str] = {}
        self._items_answered = 0
        self.held = 0  # listing pages held back so far
        self.robots_txt: bytes | None = None  # served instead of the demo's "Allow: /"
        self._hold_after: int | None = None
        self._hold_count = 0
        self._released = threading.Event()
        self.log: list[tuple[float, str, int]] = []
        self._lock = threading.Lock()
        shop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                shop._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _action(self, path: str) -> str | None:
        with self._lock:
            queued = self.script.get(path)
            if queued:
                return queued.pop(0)
            return self.always.get(path)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        action = self._action(path)
        headers: dict[str, str] = {}
        if action == "ok":
            action = None
        if action and action.startswith("hang:"):
            with self._lock:
                self.log.append((time.monotonic(), path, 0))  # 0: no answer in time
            time.sleep(float(action.split(":")[1]))
            return
        if path.startswith("/item/") and self._hold_after is not None:
            with self._lock:
                self._items_answered += 1
                held = 0 < self._items_answered - self._hold_after <= self._hold_count
            if held:
                with self._lock:
                    self.held += 1
                self._released.wait(timeout=60)
        if action is None and path == "/robots.txt" and self.robots_txt is not None:
            status, content_type, body = 200, "text/plain", self.robots_txt
        elif action is None:
            status, content_type, body = self.app.handle(path, self.url)
        else:
            code, _, after = action.partition(":")
            status, content_type, body = int(code), "text/html", b"<h1>busy</h1>"
            if after:
                headers["Retry-After"] = after
        with self._lock:
            self.log.append((time.monotonic(), path, status))
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:  # the crawler gave up on a hanging answer and closed the connection
            pass

    def hold_items_after(self, answered: int, count: int = 8) -> None:
        self._hold_after, self._hold_count, self._items_answered = answered, count, 0
        self._released.clear()

    def release(self) -> None:
        self._hold_after = None
        self._released.set()

    def attempts(self, path: str) -> list[tuple[float, int]]:
        with self._lock:
            return [(t, status) for t, p, status in self.log if p == path]

    def remove_listing(self, listing_id: str) -> None:
        """Take a listing off the marketplace: gone from search results and its page 404s."""
        self.market.listings = [x for x in self.market.listings if x.listing_id != listing_id]
        self.market.__post_init__()
        self.market._search_cache.clear()
        self.app._cache.clear()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shop() -> Iterator[FaultyShop]:
    server = FaultyShop(generate(seed=11, listings=120, js_share=0.0, faults=False))
    yield server
    server.close()


def run_pass_child(
    shop_url: str,
    home: Path,
    *,
    job: str | None = None,
    overrides: dict[str, Any] | None = None,
    keywords: list[str] = KEYWORDS,
    max_pages: int | None = None,
    spider_args: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One monitoring pass (no browser capture) in a child process; its summary."""
    code = (
        "import json, sys\n"
        "from crawlers.run import run_pass\n"
        "from marketguard.settings import Settings\n"
        "a = json.loads(sys.argv[1])\n"
        "s = Settings.from_env(); s.home = __import__('pathlib').Path(a['home'])\n"
        "args = {'base_url': a['url'], 'keywords': a['kw']}\n"
        "args.update({'max_pages': a['max_pages']} if a['max_pages'] else {})\n"
        "args.update(a['spider_args'])\n"
        "r = run_pass('demo_shop', args, s,"
        " capture=False, progress_interval=0, log_level='ERROR', overrides=a['overrides'],"
        " job=a['job'])\n"
        "print(json.dumps(r, ensure_ascii=False, default=str))\n"
    )
    args = {
        "home": str(home),
        "url": shop_url,
        "kw": ",".join(keywords),
        "overrides": {"RETRY_BACKOFF_BASE": 0.3, "DOWNLOAD_TIMEOUT": 2, **(overrides or {})},
        "job": job,
        "max_pages": max_pages,
        "spider_args": spider_args or {},
    }
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def stored_count(home: Path) -> int:
    """Listings committed so far by a crawl that may still be creating the store."""
    try:
        return len(stored(home)) if (home / "marketguard.db").exists() else 0
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def mid_pass(shop: FaultyShop, home: Path) -> bool:
    """The shop holds back listing pages while others are already committed."""
    return shop.held >= 8 and stored_count(home) >= 6


def item_path(shop: FaultyShop, keywords: list[str] = KEYWORDS) -> list[str]:
    return [f"/item/{x.listing_id}" for x in shop.market.found_by(keywords)]


def stored(home: Path) -> dict[str, tuple[str, int]]:
    """listing_id -> (content hash, number of stored versions)."""
    db = sqlite3.connect(home / "marketguard.db")
    try:
        rows = db.execute(
            "SELECT l.listing_id, l.content_hash, COUNT(v.version) FROM listings l"
            " JOIN listing_versions v ON v.listing_pk = l.id GROUP BY l.id"
        ).fetchall()
    finally:
        db.close()
    return {listing_id: (content_hash, versions) for listing_id, content_hash, versions in rows}


# --- backoff: pure parts ------------------------------------------------------------------------
def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    waits = [backoff_delay(n, base=1.0, maximum=60.0, jitter=0.0) for n in range(1, 9)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    jittered = {round(backoff_delay(3, base=1.0, maximum=60.0), 6) for _ in range(50)}
    assert len(jittered) > 1 and all(3.0 <= w <= 5.0 for w in jittered)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = utcnow()
    assert retry_after_seconds(b"7") == 7.0
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 28.0 <= (retry_after_seconds(later, now=now) or 0) <= 30.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0  # past
    assert retry_after_seconds(b"soon") is None and retry_after_seconds(None) is None


# --- a site that answers 500s, 503s, 429s and times out -----------------------------------------
def test_failing_site_retries_with_backoff_records_give_ups_and_finishes(
    shop: FaultyShop, tmp_path: Path
) -> None:
    paths = item_path(shop)
    flaky, limited, slow, dead = paths[0], paths[1], paths[2], paths[3]
    search = "/search?q=%E5%85%85%E7%94%B5%E5%99%A8&page=1"
    shop.script[flaky] = ["500", "500"]  # third try answers
    shop.script[limited] = ["429:1.5"]  # the server asks for 1.5 s; base backoff is 0.3 s
    shop.script[slow] = ["hang:3"]  # past DOWNLOAD_TIMEOUT (2 s), never answers
    shop.script[search] = ["503"]
    shop.always[dead] = "503"  # never answers: given up after three tries

    summary = run_pass_child(shop.url, tmp_path / "home")

    assert summary["finish_reason"] == "finished"
    expected = len(paths)
    assert summary["listings"] == expected - 1  # all but the dead page, search retry included
    # Retries: flaky 2, limited 1, slow 1, search 1, dead 2; the dead page is the one give-up.
    assert summary["retries"] == 7 and summary["gave_up"] == 1
    assert summary["errors"] == 1 and summary["errors_by_kind"] == {"http_status": 1}

    t_flaky = [t for t, _ in shop.attempts(flaky)]
    assert [s for _, s in shop.attempts(flaky)] == [500, 500, 200]
    # Waits of 0.3 s then 0.6 s, +/- 25 %: exponential, not immediate.
    assert t_flaky[1] - t_flaky[0] >= 0.3 * 0.75
    assert t_flaky[2] - t_flaky[1] >= 0.6 * 0.75
    t_limited = [t for t, _ in shop.attempts(limited)]
    assert len(t_limited) == 2 and t_limited[1] - t_limited[0] >= 1.45  # Retry-After honoured
    assert [s for _, s in shop.attempts(slow)] == [0, 200]  # timed out, then answered
    assert [s for _, s in shop.attempts(dead)] == [503, 503, 503]

    archive = SqliteArchive(tmp_path / "home")
    try:
        errors = archive.errors()
    finally:
        archive.close()
    assert [(e.url.removeprefix(shop.url), e.kind) for e in errors] == [(dead, "http_status")]
    assert "after 3 tries" in errors[0].message


def test_a_sites_own_delay_is_a_floor_autothrottle_keeps(shop: FaultyShop, tmp_path: Path) -> None:
    """AutoThrottle alone would wear a 0.25 s delay down to milliseconds on a fast loopback."""
    summary = run_pass_child(
        shop.url,
        tmp_path / "home",
        overrides={"DOWNLOAD_SLOTS": {"127.0.0.1": {"delay": 0.25}}},
        keywords=["复合肥"],
    )
    assert summary["finish_reason"] == "finished" and summary["listings"] > 10
    times = sorted(t for t, path, _ in shop.log if not path.startswith("/robots"))
    gaps = sorted(b - a for a, b in pairwise(times))
    # Scrapy spreads each delay over 0.5x..1.5x; the median stays near the delay itself.
    assert gaps[len(gaps) // 2] >= 0.2


def test_robots_txt_is_obeyed_unless_the_spider_opts_out(shop: FaultyShop, tmp_path: Path) -> None:
    paths = item_path(shop, ["复合肥"])
    shop.robots_txt = f"User-agent: *\nDisallow: {paths[0]}\n".encode()
    obeying = run_pass_child(shop.url, tmp_path / "a", keywords=["复合肥"])
    assert obeying["robotstxt_obey"] is True
    assert obeying["errors_by_kind"] == {"blocked": 1}
    assert obeying["listings"] == len(paths) - 1
    assert not shop.attempts(paths[0])  # never fetched, not even once

    opted_out = run_pass_child(
        shop.url, tmp_path / "b", keywords=["复合肥"], spider_args={"robotstxt_obey": "false"}
    )
    assert opted_out["robotstxt_obey"] is False  # the decision is kept with the pass
    assert opted_out["errors"] == 0 and opted_out["listings"] == len(paths)
    assert [status for _, status in shop.attempts(paths[0])] == [200]


# --- incremental passes and gone listings -------------------------------------------------------
def test_second_pass_skips_unchanged_and_marks_gone(shop: FaultyShop, tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = run_pass_child(shop.url, home)
    found = shop.market.found_by(KEYWORDS)
    assert first["listings"] == len(found) and first["unchanged"] == 0 and first["gone"] == 0
    before = stored(home)

    second = run_pass_child(shop.url, home)
    assert second["unchanged"] == second["listings"] == len(found)
    assert second["flagged"] == 0 and second["by_rule"] == {}  # nothing matched again
    assert stored(home) == before  # no new versions
    archive = SqliteArchive(home)
    states_2 = archive.listing_states("demo")
    archive.close()

    # A takedown: one listing vanishes from the search results, another's page answers 404;
    # a third page answers 503 every time (not confirmed, but not proof that it is gone).
    taken, not_found, flaky = found[0].listing_id, found[1].listing_id, found[2].listing_id
    shop.remove_listing(taken)
    shop.always[f"/item/{not_found}"] = "404"
    shop.always[f"/item/{flaky}"] = "503"
    third = run_pass_child(shop.url, home)
    assert third["finish_reason"] == "finished"
    assert third["gone"] == 2
    assert third["unchanged"] == len(found) - 3

    archive = SqliteArchive(home)
    try:
        states = archive.listing_states("demo")
        gone = {key for key, state in states.items() if state.gone_at is not None}
        assert gone == {taken, not_found}
        # Gone keeps the time it was last seen (the second pass).
        assert states[taken].last_seen == states_2[taken].last_seen
        record = archive.get_listing("demo", taken)
        assert record is not None and record.gone_at is not None
        # Moved forward for what the third pass saw again unchanged.
        seen_again = found[3].listing_id
        assert states[seen_again].last_seen > states_2[seen_again].last_seen
    finally:
        archive.close()

    # A pass over the first result pages only (max_pages) does not judge what is gone.
    shop.remove_listing(found[4].listing_id)
    partial = run_pass_child(shop.url, home, max_pages=1)
    assert partial["finish_reason"] == "finished" and partial["gone"] == 0

    # A result page that fails may hide any listing: such a pass marks nothing gone.
    shop.remove_listing(seen_again)
    shop.always["/search?q=%E5%A4%8D%E5%90%88%E8%82%A5&page=1"] = "500"  # 复合肥's first page
    fourth = run_pass_child(shop.url, home)
    assert fourth["finish_reason"] == "finished" and fourth["gone"] == 0
    archive = SqliteArchive(home)
    try:
        states = archive.listing_states("demo")
        assert states[seen_again].gone_at is None and states[found[4].listing_id].gone_at is None
    finally:
        archive.close()


# --- resume after a kill ------------------------------------------------------------------------
def test_sigkilled_crawl_resumes_and_equals_one_uninterrupted_pass(
    shop: FaultyShop, tmp_path: Path
) -> None:
    home = tmp_path / "killed"
    shop.hold_items_after(10)  # the kill lands while 8 listing pages are held
    cmd = [
        sys.executable, "-m", "marketguard.cli", "crawl", "--base-url", shop.url,
        "--store", str(home), "--no-capture", "--json", "--job", "nightly",
        *[arg for k in KEYWORDS for arg in ("--keyword", k)],
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    total = len(shop.market.found_by(KEYWORDS))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"crawl ended before the kill: {proc.communicate()[1][-2000:]}")
            if mid_pass(shop, home):
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        shop.release()
    proc.stdout.close()  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    before = stored(home)
    assert 0 < len(before) < total, "the kill must land mid-pass"
    job = load_job(home, "nightly")
    assert job is not None and job.finished_at is None

    shop.log.clear()
    resumed = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    fetched = {p for _, p, _ in shop.log if p.startswith("/item/")}
    done_before = {f"/item/{key}" for key in before}
    assert not fetched & done_before  # what the killed run stored is not fetched again
    job = load_job(home, "nightly")
    assert job is not None and job.finished_at is not None and len(job.passes) == 2

    reference = tmp_path / "reference"
    run_pass_child(shop.url, reference)
    after, expected = stored(home), stored(reference)
    assert after == expected  # same listings, same content, one version each
    assert all(versions == 1 for _, versions in after.values())


def test_sigterm_stops_gracefully_and_the_job_resumes(shop: FaultyShop, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shop.hold_items_after(10)
    cmd = [
        sys.executable, "-m", "marketguard.cli", "crawl", "--base-url", shop.url,
        "--store", str(home), "--no-capture", "--json", "--job", "j1",
        *[arg for k in KEYWORDS for arg in ("--keyword", k)],
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    total = len(shop.market.found_by(KEYWORDS))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if mid_pass(shop, home):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    shop.release()  # let the pages in flight finish: a graceful stop waits for them
    out, _ = proc.communicate(timeout=60)
    first = json.loads(out.strip().splitlines()[-1])
    assert 0 < first["listings"] < total
    job = load_job(home, "j1")
    assert job is not None and job.finished_at is None

    resumed = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    second = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert first["listings"] + second["listings"] == total
    assert len(stored(home)) == total
    archive = SqliteArchive(home)
    try:
        latest = archive.latest_pass()
        assert latest is not None and latest.summary["resume_skipped"] == first["listings"]
    finally:
        archive.close()


def test_job_with_other_arguments_is_refused(tmp_path: Path) -> None:
    job, resumed = start_or_resume(tmp_path, "n1", "demo_shop", {"keywords": "a"})
    assert not resumed and load_job(tmp_path, "n1") == job
    assert start_or_resume(tmp_path, "n1", "demo_shop", {"keywords": "a"}) == (job, True)
    with pytest.raises(JobMismatchError, match="n1"):
        start_or_resume(tmp_path, "n1", "demo_shop", {"keywords": "b"})
    with pytest.raises(ValueError, match="job name"):
        start_or_resume(tmp_path, "../x", "demo_shop", {})


# --- JavaScript pages: one browser, bounded tabs, every tab closed ------------------------------
def test_browser_pages_are_bounded_reused_and_all_closed(tmp_path: Path) -> None:
    shop = FaultyShop(generate(seed=11, listings=60, js_share=1.0, faults=False))
    try:
        paths = item_path(shop)
        # One render hangs past the navigation timeout and is retried once; another never
        # renders: it is given up after three tries and its tab is closed, not reused.
        shop.script[paths[0]] = ["ok", "hang:4"]
        shop.script[paths[1]] = ["ok", "hang:4", "hang:4", "hang:4"]
        summary = run_pass_child(
            shop.url,
            tmp_path / "home",
            overrides={
                "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 3,
                "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": 2000,
            },
        )
    finally:
        shop.close()
    assert summary["finish_reason"] == "finished"
    assert summary["listings"] == len(paths) - 1
    assert summary["errors_by_kind"] == {"timeout": 1}
    assert summary["retries"] == 3 and summary["gave_up"] == 1
    browser = summary["browser"]
    assert browser["browsers"] == 1 and browser["contexts"] == 1
    assert browser["max_concurrent_pages"] <= 3
    # 3 tabs reused for every page; a tab that failed is replaced (3 failures here).
    assert browser["pages_opened"] <= 3 + 3
    assert browser["pages_closed"] + browser["tabs_closed"] == browser["pages_opened"]
    db = sqlite3.connect(tmp_path / "home" / "marketguard.db")
    try:
        rendered = {
            json.loads(data)["rendered_with"]
            for (data,) in db.execute("SELECT data FROM listing_versions")
        }
    finally:
        db.close()
    assert rendered == {"browser"}


# --- the store's incremental methods ------------------------------------------------------------
def _listing(listing_id: str, keyword: str = "充电器", price: str = "9.90") -> Listing:
    from decimal import Decimal

    return Listing(
        platform="demo",
        listing_id=listing_id,
        url=f"http://shop.example/item/{listing_id}",
        title=f"充电器 {listing_id}",
        price=Decimal(price),
        search_keyword=keyword,
    )


def test_archive_touch_and_mark_gone(tmp_path: Path) -> None:
    archive = SqliteArchive(tmp_path)
    try:
        a, b, c = _listing("a"), _listing("b"), _listing("c", keyword="复合肥")
        for listing in (a, b, c):
            archive.save_listing(listing, [])
        states = archive.listing_states("demo")
        assert set(states) == {"a", "b", "c"} and states["a"].content_hash == a.content_hash()
        assert states["c"].search_keyword == "复合肥" and states["a"].gone_at is None
        assert archive.listing_states("other") == {}

        later = a.crawled_at + timedelta(hours=1)
        assert archive.touch_listing("demo", "a", later)
        assert not archive.touch_listing("demo", "nope", later)
        assert archive.touch_listing("demo", "a", a.crawled_at)  # never moves back
        assert archive.listing_states("demo")["a"].last_seen == later
        assert len(archive.listing_versions("demo", "a")) == 1

        cutoff = a.crawled_at + timedelta(minutes=1)
        # Only 充电器's listings are judged, "b" is kept on purpose, "a" was seen since.
        assert archive.mark_gone("demo", not_seen_since=cutoff, search_keywords=["充电器"]) == 1
        assert archive.mark_gone("demo", not_seen_since=cutoff, search_keywords=[]) == 0
        states = archive.listing_states("demo")
        assert states["b"].gone_at is not None and states["c"].gone_at is None
        assert abs((states["b"].last_seen - b.crawled_at).total_seconds()) < 0.001
        assert archive.mark_gone("demo", not_seen_since=cutoff, keep={"c"}) == 0  # b already
        assert archive.mark_gone("demo", not_seen_since=cutoff) == 1  # c now
        # Seen again: the mark goes, by a touch or by a save of changed content.
        assert archive.touch_listing("demo", "b", later)
        archive.save_listing(_listing("c", keyword="复合肥", price="8.80"), [])
        states = archive.listing_states("demo")
        assert states["b"].gone_at is None and states["c"].gone_at is None
    finally:
        archive.close()


def test_a_flagged_listing_without_evidence_needs_it(tmp_path: Path) -> None:
    from tests.test_archive_sqlite import flag, make_evidence

    archive = SqliteArchive(tmp_path)
    try:
        plain, flagged, captured = _listing("p"), _listing("f"), _listing("c")
        archive.save_listing(plain, [])
        archive.save_listing(flagged, [flag()])
        archive.save_listing(captured, [flag()], make_evidence(archive, captured, "cap-1", 0))
        states = archive.listing_states("demo")
        assert {k: s.needs_evidence for k, s in states.items()} == {
            "p": False,
            "f": True,
            "c": False,
        }
    finally:
        archive.close()


def test_errors_keep_their_page_error_kinds(tmp_path: Path) -> None:
    """PageErrors recorded by the store pipeline are readable back (the give-up contract)."""
    archive = SqliteArchive(tmp_path)
    try:
        archive.record_error(PageError("http://x/1", "http_status", "HTTP 503 (after 3 tries)"))
        assert [(e.kind, e.message) for e in archive.errors()] == [
            ("http_status", "HTTP 503 (after 3 tries)")
        ]
    finally:
        archive.close()


def test_cli_flags_exist() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "marketguard.cli", "crawl", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ},
        check=True,
    ).stdout
    assert "--job" in out and "--full" in out
