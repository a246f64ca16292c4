"""A listing's slice of its pass's context, as a crawl worker sends it to a match worker
(marketguard/distributed/wire.py), gives the very flags the in-process pass gives: the peers and
shop links seen before it, its image signals, through JSON and back."""

from __future__ import annotations

import json
from pathlib import Path

from marketguard.distributed import wire
from marketguard.eval_set import load_eval_registry, load_eval_set
from marketguard.match_context import PassContext
from matching.context import MatchContext, seller_key
from matching.engine import Matcher
from matching.image_signals import ImageSignal, ReferenceMatch

EVAL = Path(__file__).parent / "eval"


def _images(n: int, shops: list[str]) -> tuple[ImageSignal, ...]:
    """Made-up image findings for some listings: shared pictures, genuine photos, OCR text."""
    if n % 4:
        return ()
    return (
        ImageSignal(
            url=f"http://img.test/{n}.jpg",
            phash=(0x9F3A5C7E12B4D6F8 ^ (n % 8)),
            shared_with_sellers=frozenset(shops[-3:]),
            ocr_text="CCC 2020010907123456",
            ccc_mark=n % 8 == 0,
        ),
        ImageSignal(
            url=f"http://img.test/{n}-brand.jpg",
            phash=0x0123456789ABCDEF,
            reference_matches=(
                ReferenceMatch(
                    brand="公牛",
                    reference_id="ref-1",
                    distance=2,
                    authorised_sellers=frozenset({"shop:1"}),
                ),
            ),
        ),
        ImageSignal(url=f"http://img.test/{n}-broken.jpg", error="truncated"),
    )


def test_the_slice_through_json_matches_like_the_in_process_context() -> None:
    matcher = Matcher.load()
    listings = [item.listing for item in load_eval_set(EVAL)]
    listings += [item.listing for item in load_eval_set(EVAL / "holdout")]
    registry = load_eval_registry(EVAL)
    offenders = frozenset(
        seller_key(li.platform, li.seller.seller_id) for li in listings[::17] if li.seller
    )
    in_process = PassContext(matcher, registry=registry, repeat_offenders=offenders)
    base = MatchContext(registry=registry, repeat_offenders=offenders)
    fired: set[str] = set()
    shops: list[str] = []
    for n, listing in enumerate(listings):
        images = _images(n, shops)
        context = in_process.context_for(listing, images)
        expected = matcher.match(listing, context)
        found = matcher.categorize(listing)
        category = found.id if found else ""
        assert category == expected.category
        sent = json.loads(json.dumps(wire.context_slice(context, listing, category)))
        got = matcher.match(listing, wire.context_from_slice(sent, base))
        assert [f.to_dict() for f in got.flags] == [f.to_dict() for f in expected.flags], (
            listing.listing_id
        )
        assert got.risk.score == expected.risk.score
        in_process.seen(listing, category)
        fired.update(f.rule_id for f in expected.flags)
        if listing.seller is not None:
            shops.append(seller_key(listing.platform, listing.seller.seller_id))
    # The rules whose facts depend on the listings before were really exercised.
    assert {"SELLER_NETWORK", "PRICE_OUTLIER_PEERS", "SELLER_REPEAT_OFFENDER"} <= fired, fired
    assert {"IMAGE_SHARED_ACROSS_SHOPS", "IMAGE_OFFICIAL_REUSED"} & fired, fired
