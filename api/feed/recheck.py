"""Re-check (回头看): some days after a platform reports a listing removed, look again.

``check_listing_url`` fetches the listing's URL over HTTP. A 404/410, or a page saying the
item is gone, means removed; any other 2xx answer means the listing is still live. Anything
else (5xx, 403, network failure) decides nothing and the re-check is tried again later.

Besides the URL, a new listing on the same platform by the same seller, or carrying one of the
same captured images (SHA-256 of the image files), counts as re-listing. Either reopens the
notice and tells officers (notification list and audit log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import httpx

from api.feed import notices
from api.feed.config import FeedConfig
from api.workspace_db import WorkspaceDb, to_text
from evidence.archive.base import Archive, ListingState

Verdict = Literal["live", "gone", "unknown"]

# Pages platforms show in place of a removed item (kept short: a live page may quote them).
GONE_MARKERS: tuple[str, ...] = (
    "商品已下架",
    "宝贝已下架",
    "该商品已下架",
    "商品不存在",
    "宝贝不存在",
    "商品已删除",
    "商品已失效",
    "页面不存在",
)
USER_AGENT = "Mozilla/5.0 (compatible; MarketGuard-Recheck/1)"
MAX_BODY = 2_000_000


@dataclass(frozen=True, slots=True)
class UrlCheck:
    verdict: Verdict
    detail: str


@dataclass(frozen=True, slots=True)
class RecheckReport:
    closed: int = 0
    reopened: int = 0
    undecided: int = 0


def _text(response: httpx.Response) -> str:
    body = response.content[:MAX_BODY]
    for encoding in (response.charset_encoding, "utf-8", "gb18030"):
        if not encoding:
            continue
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", errors="replace")


def check_listing_url(url: str, client: httpx.Client) -> UrlCheck:
    try:
        response = client.get(url, headers={"User-Agent": USER_AGENT})
    except httpx.HTTPError as exc:
        return UrlCheck("unknown", f"{type(exc).__name__}: {exc}"[:300])
    status = response.status_code
    if status in (404, 410):
        return UrlCheck("gone", f"HTTP {status}")
    if 200 <= status < 300:
        text = _text(response)
        marker = next((m for m in GONE_MARKERS if m in text), None)
        if marker:
            return UrlCheck("gone", f"HTTP {status}, page says {marker}")
        return UrlCheck("live", f"HTTP {status}")
    return UrlCheck("unknown", f"HTTP {status}")


def find_relisting(
    archive: Archive,
    notice: dict[str, Any],
    since: datetime,
    limit: int,
    states_cache: dict[str, dict[str, ListingState]] | None = None,
) -> tuple[str, str] | None:
    """(listing_id, why) of a listing first seen at or after ``since`` on the notice's platform
    by the same seller or with one of the same images; None when the store has none."""
    platform = notice["platform"]
    listing_id = notice["listing"]["listing_id"]
    seller = notice["listing"].get("seller") or {}
    seller_id = seller.get("seller_id") or ""
    images = set(notices.image_hashes_of(notice))
    if not seller_id and not images:
        return None
    # One read of the platform's listing states per round, however many notices are due.
    cache = {} if states_cache is None else states_cache
    if platform not in cache:
        cache[platform] = archive.listing_states(platform)
    states = cache[platform]
    candidates = sorted(
        (
            s
            for s in states.values()
            if s.listing_id != listing_id and s.gone_at is None and s.last_seen >= since
        ),
        key=lambda s: s.last_seen,
        reverse=True,
    )[:limit]
    for state in candidates:
        record = archive.get_listing(platform, state.listing_id)
        if record is None or record.first_seen < since:
            continue
        other = record.listing.seller
        if seller_id and other is not None and other.seller_id == seller_id:
            return state.listing_id, f"同一卖家 {seller_id}"
        shared = images & {
            a.sha256 for e in record.evidence for a in e.artifacts if a.kind == "image"
        }
        if shared:
            return state.listing_id, f"相同图片 {sorted(shared)[0][:12]}…"
    return None


def run_rechecks(
    db: WorkspaceDb,
    archive: Archive,
    config: FeedConfig | None = None,
    *,
    client: httpx.Client | None = None,
    limit: int = 50,
) -> RecheckReport:
    """Re-check every removed notice whose re-check is due."""
    config = config or FeedConfig()
    rows = (
        db.conn()
        .execute(
            "SELECT notice_id FROM notices WHERE status = 'removed' AND recheck_due_at <= ?"
            " ORDER BY recheck_due_at LIMIT ?",
            (to_text(db.now()), limit),
        )
        .fetchall()
    )
    own = client is None
    http = client or httpx.Client(timeout=15.0, follow_redirects=True)
    closed = reopened = undecided = 0
    states_cache: dict[str, dict[str, ListingState]] = {}
    try:
        for row in rows:
            notice = notices.get_notice(db, row["notice_id"])
            check = check_listing_url(notice["listing"]["url"], http)
            created = datetime.fromisoformat(notice["created"])
            relisted = find_relisting(
                archive, notice, created, config.relisting_scan_limit, states_cache
            )
            if check.verdict == "live":
                reason = f"回头看：商品链接仍可访问（{check.detail}）"
                moved = notices.system_move(
                    db, notice["id"], "reopened", reason, config, recheck_result="live"
                )
                reopened += moved is not None
            elif relisted is not None:
                other, why = relisted
                reason = f"回头看：发现重新上架的商品 {other}（{why}）"
                moved = notices.system_move(
                    db, notice["id"], "reopened", reason, config, recheck_result="relisted"
                )
                reopened += moved is not None
            elif check.verdict == "gone":
                reason = f"回头看：商品已不可访问（{check.detail}）"
                moved = notices.system_move(
                    db, notice["id"], "closed", reason, config, recheck_result="gone"
                )
                closed += moved is not None
            else:
                with db.write() as conn:
                    conn.execute(
                        "UPDATE notices SET recheck_due_at = ?, rechecked_at = ?,"
                        " recheck_result = ? WHERE notice_id = ? AND status = 'removed'",
                        (
                            to_text(db.now() + config.recheck_retry),
                            to_text(db.now()),
                            f"unknown: {check.detail}",
                            notice["id"],
                        ),
                    )
                undecided += 1
    finally:
        if own:
            http.close()
    return RecheckReport(closed, reopened, undecided)
