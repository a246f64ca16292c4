"""The engine's shortcuts change no outcome: skipping rules by category, the one-scan attribute
text, the crawl day by arithmetic, work shared across rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from marketguard.models import SEVERITY_ORDER, Flag, Listing
from matching import Matcher
from matching.benchmark import sample_listings
from matching.context import (
    EMPTY_CONTEXT,
    CertificateRecord,
    CertificateRegistry,
    ImageSignal,
    MatchContext,
)
from matching.rules.base import CHINA_TIME, ListingView, crawl_day
from matching.text import fold_width

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


def _every_rule(matcher: Matcher, listing: Listing, context: MatchContext | None) -> list[Flag]:
    """The flags with no rule left out: every rule's check, in rule-book order."""
    title = listing.title
    category = matcher.categorize(listing)
    view = ListingView(listing, category, title, fold_width(title), context or EMPTY_CONTEXT)
    for rule in matcher.rules.rules:
        flag = rule.check(view)
        if flag is not None:
            view.flags.append(flag)
    return sorted(view.flags, key=lambda f: -SEVERITY_ORDER[f.severity])


def test_results_equal_running_every_rule(
    matcher: Matcher, listings: list[Listing], context: MatchContext
) -> None:
    assert any(len(r) < len(matcher.rules.rules) for r in matcher._rules_for.values())
    with_images = context.for_listing(
        images=[ImageSignal("http://i/1.jpg", shared_with_sellers=frozenset({"x:1", "x:2"}))]
    )
    for ctx in (None, context, with_images, None):
        for listing in listings:
            assert matcher.match(listing, ctx).flags == _every_rule(matcher, listing, ctx)


def test_a_rule_left_out_for_a_missing_context_part_never_fires(
    matcher: Matcher, listings: list[Listing]
) -> None:
    gated = [r for r in matcher.rules.rules if hasattr(r, "applies_with")]
    assert {r.rule_id for r in gated} >= {"CCC_CERT_NOT_FOUND", "IMAGE_SHARED_ACROSS_SHOPS"}
    for rule in gated:
        assert not rule.applies_with(EMPTY_CONTEXT)
        for listing in listings:
            view = ListingView(listing, matcher.categorize(listing), listing.title, listing.title)
            assert rule.check(view) is None, rule.rule_id


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
