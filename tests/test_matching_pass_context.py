"""The pass's MatchContext: peers and seller links grow with the pass, registry and repeat
offenders are loaded from home/ and the store, and MatchPipeline hands the risk score on."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from scrapy.utils.test import get_crawler

from crawlers.pipelines.matching import MatchPipeline
from evidence.archive.sqlite import SqliteArchive
from marketguard.match_context import PassContext, SellerNetwork, batch_context
from marketguard.models import Assessment, Flag, Listing, Review, Seller
from matching import Matcher


def listing(n: int, *, price: str = "60", seller: Seller | None = None, title: str = "") -> Listing:
    return Listing(
        platform="demo",
        listing_id=str(n),
        url=f"http://127.0.0.1/item/{n}",
        title=title or f"星川 65W 充电器 3C M{n}",
        price=Decimal(price),
        brand="星川",
        seller=seller or Seller(f"s{n}"),
    )


def rules(matcher: Matcher, item: Listing, context: PassContext) -> set[str]:
    result = matcher.match(item, context.context_for(item))
    context.seen(item, result.category)
    return {f.rule_id for f in result.flags}


def test_peers_grow_during_the_pass() -> None:
    matcher = Matcher.load()
    context = PassContext(matcher)
    # The first cheap listing has no peers yet: silent.
    assert "PRICE_OUTLIER_PEERS" not in rules(matcher, listing(0, price="9"), context)
    for n, price in enumerate(("60", "62", "58", "65", "61", "59", "63", "57"), start=1):
        assert "PRICE_OUTLIER_PEERS" not in rules(matcher, listing(n, price=price), context)
    assert "PRICE_OUTLIER_PEERS" in rules(matcher, listing(9, price="9"), context)
    assert "PRICE_OUTLIER_PEERS" not in rules(matcher, listing(10, price="55"), context)


def test_seller_links_from_shops_seen_in_the_pass() -> None:
    matcher = Matcher.load()
    context = PassContext(matcher)
    first = Seller("a", phone="+86 138-0013-8000", address="广东省深圳市南山区科技园路1号")
    second = Seller("b", phone="13800138000")
    third = Seller("c", phone="13900139000", address="广东省 深圳市 南山区 科技园路1号")
    assert "SELLER_NETWORK" not in rules(matcher, listing(1, seller=first), context)
    flags = matcher.match(listing(2, seller=second), context.context_for(listing(2, seller=second)))
    network = next(f for f in flags.flags if f.rule_id == "SELLER_NETWORK")
    assert "联系电话" in network.reason and "demo:a" in network.reason
    third_flags = matcher.match(
        listing(3, seller=third), context.context_for(listing(3, seller=third))
    )
    assert any("经营地址" in f.reason for f in third_flags.flags if f.rule_id == "SELLER_NETWORK")
    # Too short to link anybody.
    net = SellerNetwork()
    net.add_seller("demo", Seller("x", phone="400", address="深圳"))
    net.add_seller("demo", Seller("y", phone="400", address="深圳"))
    assert net.links() == {}


def test_batch_context_matches_the_batch_as_one_pass() -> None:
    matcher = Matcher.load()
    prices = ("60", "62", "58", "65", "61", "59", "63", "5")
    items = [listing(n, price=p) for n, p in enumerate(prices)]
    shared, per_listing = batch_context(matcher, items)
    cheap = matcher.match(items[-1], per_listing(items[-1], shared))
    assert "PRICE_OUTLIER_PEERS" in {f.rule_id for f in cheap.flags}


def test_load_reads_registry_and_repeat_offenders(tmp_path: Path) -> None:
    (tmp_path / "certs.csv").write_text(
        "number,holder,product,models,status\n2023010907123456,甲,电源适配器,,revoked\n",
        encoding="utf-8",
    )
    from marketguard.registry import import_csv

    import_csv(tmp_path, tmp_path / "certs.csv")
    with SqliteArchive(tmp_path) as store:
        bad = listing(1, seller=Seller("bad-shop"))
        flag = Flag("CCC_MISSING", "high", "r", "《认证认可条例》")
        store.save_listing(bad, [flag])
        store.add_review(Review("demo", "1", "confirmed", "张三"))
        matcher = Matcher.load()
        context = PassContext.load(matcher, tmp_path, store)
    assert context.repeat_offenders == {"demo:bad-shop"}
    item = listing(2, seller=Seller("bad-shop"))
    item.attributes = {"3C证书编号": "2023010907123456"}
    assert {"SELLER_REPEAT_OFFENDER", "CCC_CERT_STATUS"} <= rules(matcher, item, context)
    # A damaged registry file is logged and skipped, not fatal.
    (tmp_path / "registry.db").write_bytes(b"not a database")
    assert PassContext.load(matcher, tmp_path, None).registry is None


def test_match_pipeline_gives_the_store_a_risk_score(tmp_path: Path) -> None:
    crawler = get_crawler(settings_dict={"MARKETGUARD_HOME": str(tmp_path)})
    pipeline = MatchPipeline.from_crawler(crawler)
    pipeline.open_spider()
    out = pipeline.process_item(listing(1, title="高仿 65W 充电器", price="-3"))
    assert isinstance(out, Assessment) and out.listing.category == "charger"
    assert out.risk_score is not None and out.risk_score >= 70  # CCC_MISSING + wording
    clean = pipeline.process_item(listing(2, title="65W 充电器 3C认证 2023010907123456"))
    assert isinstance(clean, Assessment) and clean.flags == [] and clean.risk_score is None
    stats = crawler.stats.get_stats()  # type: ignore[union-attr]
    assert stats.get("marketguard/input_warnings/negative price") == 1


def _far(k: int) -> int:
    """Hashes far apart (not one picture re-posted a bit or two away)."""
    return (0x9E37_79B9_7F4A_7C15 * (k + 1)) & (2**64 - 1)


def _network(matcher: Matcher, context: PassContext, n: int, shop: str, *signals: object) -> set:
    item = listing(n, seller=Seller(shop))
    flags = matcher.match(item, context.context_for(item, signals)).flags  # type: ignore[arg-type]
    return {f.rule_id for f in flags} & {"SELLER_NETWORK"}


def test_shops_sharing_two_pictures_are_a_network() -> None:
    from matching.context import ImageSignal

    matcher = Matcher.load()
    context = PassContext(matcher)
    # The image side's colour-checked lookup says shop a posted both pictures before.
    a1, a2 = 0x0F0F_1234_5678_9ABC, 0x7777_0000_FFFF_1234
    assert not _network(matcher, context, 1, "a", ImageSignal("http://i/1.jpg", phash=a1))
    first = ImageSignal(
        "http://i/b1.jpg", phash=a1 ^ 0b11, shared_with_sellers=frozenset({"demo:a"})
    )
    # one common picture is what unrelated shops get from one supplier's catalogue
    assert not _network(matcher, context, 2, "b", first)
    second = ImageSignal("http://i/b2.jpg", phash=a2, shared_with_sellers=frozenset({"demo:a"}))
    item = listing(3, seller=Seller("b"))
    flags = matcher.match(item, context.context_for(item, [second])).flags
    network = next(f for f in flags if f.rule_id == "SELLER_NETWORK")
    assert "商品图片" in network.reason and "demo:a" in network.reason
    # a shop re-posting one picture (re-encoded, a bit apart) still shares one picture
    for n, phash in ((4, a1), (5, a1 ^ 0b100)):
        signal = ImageSignal(
            f"http://i/d{n}.jpg", phash=phash, shared_with_sellers=frozenset({"demo:a"})
        )
        assert not _network(matcher, context, n, "d", signal)


def test_same_hash_alone_links_nobody() -> None:
    """Equal pHashes without the image side's colour-checked match (certificates with other
    numbers, one drawing in other colours) are no link: only shared_with_sellers counts."""
    from matching.context import ImageSignal

    matcher = Matcher.load()
    context = PassContext(matcher)
    for n, shop in ((1, "a"), (2, "b"), (3, "a"), (4, "b")):
        signals = [ImageSignal(f"http://i/{n}-{k}.jpg", phash=_far(k)) for k in range(3)]
        assert not _network(matcher, context, n, shop, *signals)


def test_certificate_scans_link_nobody() -> None:
    from matching.context import ImageSignal

    matcher = Matcher.load()
    context = PassContext(matcher)
    context.context_for(listing(1, seller=Seller("a")))
    scans = [
        ImageSignal(
            f"http://i/cert-{k}.png",
            phash=_far(k),
            shared_with_sellers=frozenset({"demo:a"}),
            linkable=False,
        )
        for k in range(3)
    ]
    assert not _network(matcher, context, 2, "b", *scans)


def test_min_shared_images_comes_from_the_rules_file(tmp_path: Path) -> None:
    from matching.context import ImageSignal
    from matching.rule_book import DEFAULT_RULES_PATH

    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    assert "    min_shared_images: 2\n" in text
    rules = tmp_path / "rules.yaml"
    rules.write_text(text.replace("    min_shared_images: 2\n", "    min_shared_images: 1\n"))
    matcher = Matcher.load(rules_path=rules)
    context = PassContext(matcher)
    one = ImageSignal("http://i/x.jpg", phash=5, shared_with_sellers=frozenset({"demo:a"}))
    assert _network(matcher, context, 1, "b", one) == {"SELLER_NETWORK"}


def test_official_photos_link_nobody() -> None:
    from matching.context import ImageSignal, ReferenceMatch

    matcher = Matcher.load()
    context = PassContext(matcher)
    official = (ReferenceMatch("星川", "ref-1", 0),)
    # Honest resellers of one brand: every picture they share is the brand's genuine photo.
    for n, shop in ((1, "a"), (2, "b"), (3, "c")):
        others = frozenset({"demo:a", "demo:b", "demo:c"} - {f"demo:{shop}"})
        signals = [
            ImageSignal(
                f"http://i/{k}.jpg",
                phash=_far(k),
                reference_matches=official,
                shared_with_sellers=others,
            )
            for k in range(3)
        ]
        assert not _network(matcher, context, n, shop, *signals)
