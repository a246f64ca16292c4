"""The engine's shortcuts change no outcome: skipping rules by category, the one-scan attribute
text, the crawl day by arithmetic, work shared across rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from marketguard.models import Listing
from matching import Matcher
from matching.benchmark import sample_listings
from matching.context import CertificateRecord, CertificateRegistry, MatchContext
from matching.rules.base import CHINA_TIME, ListingView, crawl_day

CRAWLED = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


@pytest.fixture(scope="module")
def listings() -> list[Listing]:
    return sample_listings(400)


@pytest.fixture(scope="module")
def context(matcher: Matcher, listings: list[Listing]) -> MatchContext:
    from marketguard.match_context import batch_context

    registry = CertificateRegistry(
        CertificateRecord(f"2023{n:012d}", "某公司", "电源适配器") for n in range(100)
    )
    shared, _ = batch_context(matcher, listings, base=MatchContext(registry=registry))
    return shared


def test_a_rule_left_out_for_a_category_never_fires_there(
    matcher: Matcher, listings: list[Listing], context: MatchContext
) -> None:
    gated = [r for r in matcher.rules.rules if hasattr(r, "applies_to")]
    assert gated, "no rule declares applies_to: the category shortcut is gone"
    categories = [None, *matcher.catalogue.categories]
    skipped = 0
    for category in categories:
        for rule in gated:
            if rule.applies_to(category):
                continue
            for listing in listings[:60]:
                title = listing.title
                view = ListingView(listing, category, title, title, context)
                assert rule.check(view) is None, (rule.rule_id, category and category.id)
                skipped += 1
    assert skipped > 0


def test_results_equal_running_every_rule(
    matcher: Matcher, listings: list[Listing], context: MatchContext
) -> None:
    every = Matcher.load()
    every._checks_for = {key: tuple(r.check for r in every._rules) for key in every._checks_for}
    assert any(len(r) < len(matcher._rules) for r in matcher._rules_for.values())
    for ctx in (None, context):
        for listing in listings:
            fast, slow = matcher.match(listing, ctx), every.match(listing, ctx)
            assert (fast.category, fast.flags, fast.risk) == (slow.category, slow.flags, slow.risk)


def test_abolished_mark_in_one_attribute_does_not_run_into_the_next(matcher: Matcher) -> None:
    def fired(attributes: dict[str, str]) -> bool:
        listing = Listing("t", "1", "u", "充电器", crawled_at=CRAWLED, attributes=attributes)
        return any(f.rule_id == "CCC_ABOLISHED_MARK" for f in matcher.match(listing).flags)

    assert fired({"品牌": "某牌", "认证标志": "3C-EMC"})
    # Side by side, "3C-" and "S" would read as the abolished mark 3C-S: two values are not one.
    assert not fired({"认证标志": "3C-", "等级": "S"})
    assert not fired({"认证标志": "3C/", "类别": "EMC"})


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2025, 6, 1, 15, 59, 59),  # naive: read as UTC
        datetime(2025, 6, 1, 16, 0, 0),
        datetime(2025, 6, 1, 16, 0, 0, tzinfo=UTC),
        datetime(2025, 6, 1, 15, 59, 59, 999_999, tzinfo=UTC),
        datetime(2025, 6, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2025, 12, 31, 20, 0, tzinfo=UTC),
    ],
)
def test_crawl_day_is_the_day_in_china(moment: datetime) -> None:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    assert crawl_day(moment) == aware.astimezone(CHINA_TIME).date()
