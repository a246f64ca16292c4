"""MatchContext: the data rules get beyond the listing, built outside matching/ and passed in."""

from __future__ import annotations

from datetime import date

from marketguard.models import Listing
from matching import Matcher
from matching.context import (
    CertificateRecord,
    CertificateRegistry,
    ImageSignal,
    MatchContext,
    PeerPrices,
    PeerStats,
)


def test_match_accepts_a_context_and_works_without_one() -> None:
    matcher = Matcher.load()
    listing = Listing(platform="demo", listing_id="1", url="u", title="快充 充电器")
    plain = matcher.match(listing)
    with_context = matcher.match(listing, MatchContext())
    assert [f.rule_id for f in plain.flags] == [f.rule_id for f in with_context.flags]


def test_for_listing_keeps_pass_data_and_sets_images() -> None:
    registry = CertificateRegistry([CertificateRecord("2023010907123456", "甲", "充电器")])
    base = MatchContext(registry=registry, repeat_offenders=frozenset({"demo:s1"}))
    one = base.for_listing(images=[ImageSignal(url="http://x/1.jpg", ocr_text="3C")])
    assert one.registry is registry and one.repeat_offenders == base.repeat_offenders
    assert one.images[0].ocr_text == "3C" and base.images == ()


def test_registry_status_on_a_day() -> None:
    record = CertificateRecord("2023010907123456", "甲", "充电器", expires=date(2024, 1, 1))
    assert record.status_on(date(2023, 6, 1)) == "valid"
    assert record.status_on(date(2024, 6, 1)) == "expired"
    assert not CertificateRegistry()  # empty: "no registry", not "every number unknown"


def test_peer_stats_are_robust_and_skip_bad_prices() -> None:
    stats = PeerStats.of([100, 110, 90, 105, 95, 10_000, -5, float("nan")])
    assert stats is not None and stats.count == 6
    assert 95 <= stats.median <= 110 and stats.mad < 20
    peers = PeerPrices.from_prices([("charger", "Anker", 100.0), ("charger", "anker ", 120.0)])
    assert peers.get("charger", "ANKER").count == 2  # type: ignore[union-attr]
    assert peers.get("charger", "").count == 2  # type: ignore[union-attr]
    assert peers.get("power_bank", "anker") is None
