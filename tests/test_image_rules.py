"""IMAGE_OFFICIAL_REUSED and IMAGE_SHARED_ACROSS_SHOPS weigh the image signals they are given."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from marketguard.models import Listing, Seller
from matching.context import EMPTY_CONTEXT, ImageSignal, ReferenceMatch
from matching.engine import Matcher
from matching.rule_book import DEFAULT_RULES_PATH, load_rules
from matching.yaml_schema import RulesError

URL = "https://shop.example/img/1.jpg"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


def _listing(seller_id: str = "s1", brand: str = "安克") -> Listing:
    return Listing(
        platform="demo",
        listing_id="L1",
        url="https://shop.example/item/L1",
        title="手机壳 透明",  # no catalogue category: only the image rules can speak
        brand=brand,
        seller=Seller(seller_id=seller_id, name="某某数码店"),
    )


def _flags(matcher: Matcher, listing: Listing, *images: ImageSignal) -> dict[str, object]:
    result = matcher.match(listing, EMPTY_CONTEXT.for_listing(images=images))
    return {f.rule_id: f for f in result.flags}


def _ref(distance: int, sellers: frozenset[str], brand: str = "安克") -> ReferenceMatch:
    return ReferenceMatch(
        brand=brand, reference_id="7", distance=distance, authorised_sellers=sellers
    )


def test_official_photo_by_unauthorised_seller_is_flagged(matcher: Matcher) -> None:
    image = ImageSignal(url=URL, phash=1, reference_matches=(_ref(2, frozenset({"demo:s9"})),))
    flag = _flags(matcher, _listing("s1"), image)["IMAGE_OFFICIAL_REUSED"]
    assert flag.field == f"image:{URL}"
    assert URL in flag.snippet and "距离 2" in flag.snippet and "#7" in flag.snippet
    assert "安克" in flag.reason and "授权" in flag.reason
    assert "distance 2" in flag.reason_en and "产品质量法》第五条" in flag.legal_basis


def test_authorised_seller_unknown_list_and_far_matches_are_not_flagged(matcher: Matcher) -> None:
    authorised = ImageSignal(url=URL, reference_matches=(_ref(0, frozenset({"demo:s1"})),))
    assert "IMAGE_OFFICIAL_REUSED" not in _flags(matcher, _listing("s1"), authorised)
    unknown = ImageSignal(url=URL, reference_matches=(_ref(0, frozenset()),))
    assert "IMAGE_OFFICIAL_REUSED" not in _flags(matcher, _listing("s1"), unknown)
    far = ImageSignal(url=URL, reference_matches=(_ref(9, frozenset({"demo:s9"})),))
    assert "IMAGE_OFFICIAL_REUSED" not in _flags(matcher, _listing("s1"), far)
    # authorised for one of two look-alike brands' photos: benefit of the doubt
    both = ImageSignal(
        url=URL,
        reference_matches=(
            _ref(1, frozenset({"demo:s9"}), "安克"),
            _ref(1, frozenset({"demo:s1"}), "品胜"),
        ),
    )
    assert "IMAGE_OFFICIAL_REUSED" not in _flags(matcher, _listing("s1"), both)


def test_picture_in_enough_shops_is_flagged_once_threshold_is_met(matcher: Matcher) -> None:
    two = ImageSignal(url=URL, shared_with_sellers=frozenset({"demo:s2"}))
    assert "IMAGE_SHARED_ACROSS_SHOPS" not in _flags(matcher, _listing("s1"), two)
    three = ImageSignal(url=URL, shared_with_sellers=frozenset({"demo:s2", "demo:s3", "demo:s1"}))
    flag = _flags(matcher, _listing("s1"), three)["IMAGE_SHARED_ACROSS_SHOPS"]
    assert flag.field == f"image:{URL}" and "3家" in flag.snippet
    assert "demo:s2" in flag.reason and "demo:s1" not in flag.reason
    # a genuine reference photo shared by resellers is IMAGE_OFFICIAL_REUSED's business
    official = ImageSignal(
        url=URL,
        shared_with_sellers=frozenset({"demo:s2", "demo:s3", "demo:s4"}),
        reference_matches=(_ref(0, frozenset({"demo:s1"})),),
    )
    assert _flags(matcher, _listing("s1"), official) == {}


def test_no_image_signals_no_image_flags(matcher: Matcher) -> None:
    assert _flags(matcher, _listing()) == {}


def _edited_rules(tmp_path: Path, rule_id: str, **changes: object) -> Path:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    for rule in data["rules"]:
        if rule["id"] == rule_id:
            rule.update(changes)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_thresholds_are_checked_on_load(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="band lookup"):
        load_rules(_edited_rules(tmp_path, "IMAGE_SHARED_ACROSS_SHOPS", max_distance=5))
    with pytest.raises(RulesError, match="min_shops"):
        load_rules(_edited_rules(tmp_path, "IMAGE_SHARED_ACROSS_SHOPS", min_shops=1))
    with pytest.raises(RulesError, match="max_distance"):
        load_rules(_edited_rules(tmp_path, "IMAGE_OFFICIAL_REUSED", max_distance=30))
    book = load_rules(_edited_rules(tmp_path, "IMAGE_SHARED_ACROSS_SHOPS", min_shops=2))
    rule = next(r for r in book.rules if r.rule_id == "IMAGE_SHARED_ACROSS_SHOPS")
    assert rule.min_shops == 2  # type: ignore[attr-defined]
