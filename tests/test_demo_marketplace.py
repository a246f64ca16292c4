"""The demo marketplace: deterministic data, a ground truth that agrees with the rules, and pages
served over real HTTP on 127.0.0.1 in every variant the spider must handle."""

from __future__ import annotations

import http.client
import io
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import imagehash
import pytest
from PIL import Image

from demo.generator import (
    CCC_MISSING,
    CCC_NUMBER_INVALID,
    COUNTERFEIT_WORDING,
    FAULT_BROKEN_HTML,
    FAULT_CORRUPT_IMAGE,
    FAULT_HTTP_500,
    IMAGE_OFFICIAL_REUSED,
    PRICE_TOO_LOW,
    RESULTS_PER_PAGE,
    SELLER_RISK,
    DemoListing,
    Marketplace,
    generate,
    search_url,
)
from demo.server import DemoApp, DemoServer
from demo.vocabulary import NEGATIONS, SLANG

REPO_ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 3, 15)
RULES = (CCC_MISSING, CCC_NUMBER_INVALID, COUNTERFEIT_WORDING, PRICE_TOO_LOW, SELLER_RISK)
JSON_LD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def market() -> Marketplace:
    return generate(seed=7, listings=300, today=TODAY)


@pytest.fixture(scope="module")
def shop(market: Marketplace) -> DemoServer:
    with DemoServer(market) as server:
        yield server


@pytest.fixture(scope="module")
def client(shop: DemoServer) -> httpx.Client:
    with httpx.Client(base_url=shop.url, timeout=10) as c:
        yield c


def first(market: Marketplace, **conditions: object) -> DemoListing:
    for listing in market.listings:
        if listing.fault is None and all(getattr(listing, k) == v for k, v in conditions.items()):
            return listing
    raise AssertionError(f"no listing with {conditions}")


# --- data -----------------------------------------------------------------------------------
def test_same_seed_gives_same_shop_byte_for_byte(market: Marketplace) -> None:
    again = generate(seed=7, listings=300, today=TODAY)
    assert again.ground_truth() == market.ground_truth()
    assert [x.title for x in again.listings] == [x.title for x in market.listings]
    one, two = DemoApp(market), DemoApp(again)
    for target in ["/", "/search?q=%E5%85%85%E7%94%B5%E5%99%A8&page=2", "/shop/5003"] + [
        f"/item/{x.listing_id}" for x in market.listings[:40]
    ]:
        assert one.handle(target, "http://h:1") == two.handle(target, "http://h:1"), target


def test_other_seed_gives_other_shop(market: Marketplace) -> None:
    other = generate(seed=8, listings=300, today=TODAY)
    assert [x.title for x in other.listings] != [x.title for x in market.listings]
    assert other.ground_truth() != market.ground_truth()


def test_faults_do_not_change_the_other_listings(market: Marketplace) -> None:
    clean = generate(seed=7, listings=300, today=TODAY, faults=False)
    assert not any(x.fault for x in clean.listings)
    faulty = {x.listing_id for x in market.listings if x.fault}
    assert len(faulty) == 3
    same = [x.title for x in market.listings if x.listing_id not in faulty]
    assert same == [x.title for x in clean.listings if x.listing_id not in faulty]


def test_300_listings_spread_over_all_six_categories(market: Marketplace) -> None:
    assert len(market.listings) >= 300
    per_category = Counter(x.category.id for x in market.listings)
    assert set(per_category) == {c.id for c in market.categories}
    assert len(per_category) == 6
    assert min(per_category.values()) >= 40


def test_every_rule_appears_often_and_about_half_violate(market: Marketplace) -> None:
    truth = market.ground_truth()
    counts = Counter(rule for entry in truth.values() for rule in entry["rules"])
    assert set(counts) == {*RULES, IMAGE_OFFICIAL_REUSED}
    assert min(counts.values()) >= 15, counts
    # about half plant a text rule; edited copies of official photos add a few more
    violating = sum(1 for x in market.listings if x.rules)
    assert 0.40 <= violating / len(truth) <= 0.50
    assert sum(1 for entry in truth.values() if len(entry["rules"]) > 1) > 10
    faults = sorted(e["fault"] for e in truth.values() if e["fault"])
    assert faults == sorted([FAULT_HTTP_500, FAULT_BROKEN_HTML, FAULT_CORRUPT_IMAGE])
    assert all(not e["rules"] for e in truth.values() if e["fault"])


def test_image_truth_is_an_edited_official_photo_from_a_shop_the_brand_did_not_authorise(
    market: Marketplace,
) -> None:
    authorised = market.authorised_resellers()
    truth = market.ground_truth()
    kinds: Counter[str] = Counter()
    for x in market.listings:
        shop = f"demo:{x.shop_id}"
        if "genuine_photo" in x.traits:
            assert shop in authorised[x.brand]  # honest resellers are the brand's list
        flagged = IMAGE_OFFICIAL_REUSED in truth[x.listing_id]["rules"]
        if x.copy_edit is None:
            assert not flagged
        elif not authorised.get(x.brand):
            kinds["brand without a list"] += 1
            assert not flagged  # an empty list is "not known": nobody is flagged
        elif shop in authorised[x.brand]:
            kinds["authorised shop"] += 1
            assert not flagged
        else:
            kinds["flagged"] += 1
            assert flagged
        assert set(truth[x.listing_id]["rules"]) - {IMAGE_OFFICIAL_REUSED} == set(x.rules)
    assert kinds["flagged"] >= 15 and kinds["brand without a list"] >= 1, kinds


def _certificate_numbers(market: Marketplace, listing: DemoListing) -> list[str]:
    numbers = [v for k, v in market.attributes(listing) if "3C" in k or "CCC" in k]
    numbers += re.findall(r"证书编号：([0-9A-Z]+)", market.description(listing))
    return numbers


def _valid_certificate(number: str) -> bool:
    return bool(re.fullmatch(r"\d{16}", number)) and 2001 <= int(number[:4]) <= TODAY.year


def test_ground_truth_agrees_with_what_pages_show(market: Marketplace) -> None:
    """An independent reading of each listing's text gives exactly the ground-truth rules."""
    for x in market.listings:
        if x.fault:
            continue
        description = market.description(x)
        attributes = market.attributes(x)
        text = x.title + description + "".join(k + v for k, v in attributes)
        shop = market.shop(x.shop_id)
        assert shop is not None
        found = set()
        if x.price < x.category.price_low * Decimal("0.4"):
            found.add(PRICE_TOO_LOW)
        if shop.age_days(TODAY) < 90 and shop.rating < 4.5:
            found.add(SELLER_RISK)
        unnegated = x.title + description
        for negation in NEGATIONS:
            unnegated = unnegated.replace(negation, "")
        if any(word in unnegated for word in SLANG):
            found.add(COUNTERFEIT_WORDING)
        if x.category.ccc_required:
            numbers = _certificate_numbers(market, x)
            if not any(w in text for w in ("3C", "CCC", "证书")):
                found.add(CCC_MISSING)
            elif any(not _valid_certificate(n) for n in numbers):
                found.add(CCC_NUMBER_INVALID)
        else:
            assert "3C" not in text and "CCC" not in text
        assert found == set(x.rules), (x.listing_id, x.title, description, attributes)


def test_tricky_genuine_listings_are_clean_and_recorded(market: Marketplace) -> None:
    by_trait: dict[str, list[DemoListing]] = {}
    for x in market.listings:
        for trait in x.traits:
            by_trait.setdefault(trait, []).append(x)
    tricky = [
        "negation_wording",
        "new_shop_high_rating",
        "old_shop_low_rating",
        "price_near_threshold",
        "fertilizer_licence",
        "ccc_in_description",
    ]
    for trait in tricky:
        assert by_trait.get(trait), trait
    for trait in ("negation_wording", "price_near_threshold", "ccc_in_description"):
        assert all(not x.rules for x in by_trait[trait]), trait
    for trait in ("new_shop_high_rating", "old_shop_low_rating"):
        assert all(SELLER_RISK not in x.rules for x in by_trait[trait]), trait
    for x in by_trait["negation_wording"]:
        assert any(n in market.description(x) for n in NEGATIONS)
    for x in by_trait["new_shop_high_rating"]:
        shop = market.shop(x.shop_id)
        assert shop and shop.age_days(TODAY) < 90 and shop.rating >= 4.5
    for x in by_trait["old_shop_low_rating"]:
        shop = market.shop(x.shop_id)
        assert shop and shop.age_days(TODAY) >= 90 and shop.rating < 4.5
    for x in by_trait["price_near_threshold"]:
        floor = x.category.price_low * Decimal("0.4")
        assert floor <= x.price < floor * Decimal("1.2")
    for x in by_trait["fertilizer_licence"]:
        assert re.fullmatch(r"XK13-001-\d{5}", dict(market.attributes(x))["生产许可证号"])
    for x in by_trait["ccc_in_description"]:
        assert "3C认证" in market.description(x)
        assert not any("证书" in k for k, _ in market.attributes(x))
    genuine = [x for x in market.listings if not x.rules and not x.fault]
    for x in genuine:
        if x.category.ccc_required and "ccc_in_description" not in x.traits:
            numbers = [v for k, v in market.attributes(x) if "证书编号" in k]
            assert len(numbers) == 1 and _valid_certificate(numbers[0])
        if "price_near_threshold" not in x.traits:
            assert x.category.price_low <= x.price <= x.category.price_high


def test_page_variety_shares(market: Marketplace) -> None:
    n = len(market.listings)
    layouts = Counter(x.layout for x in market.listings)
    encodings = Counter(x.encoding for x in market.listings)
    assert 0.30 <= layouts["jsonld"] / n <= 0.50
    assert 0.05 <= layouts["js"] / n <= 0.15
    assert 0.10 <= (encodings["gbk-header"] + encodings["gbk-meta"]) / n <= 0.22
    assert encodings["gbk-header"] and encodings["gbk-meta"]
    assert all(x.layout != "js" for x in generate(7, 300, today=TODAY, js_share=0.0).listings)


def test_100000_listings_generate() -> None:
    big = generate(seed=7, listings=100_000)
    assert len(big.listings) == 100_000
    assert len({x.listing_id for x in big.listings}) == 100_000
    fertilizer = sum(1 for x in big.listings if x.category.id == "compound_fertilizer")
    assert len(big.search("复合肥")) == fertilizer > 16_000
    with pytest.raises(ValueError):
        generate(listings=100_001)


# --- pages over HTTP ------------------------------------------------------------------------
def test_gbk_pages_decode_as_gbk(market: Marketplace, client: httpx.Client) -> None:
    in_header = first(market, encoding="gbk-header")
    response = client.get(f"/item/{in_header.listing_id}")
    assert response.headers["content-type"] == "text/html; charset=gbk"
    text = response.content.decode("gbk")
    assert in_header.title in text and "月销" in text
    assert in_header.title.encode("utf-8") not in response.content

    meta_only = first(market, encoding="gbk-meta")
    response = client.get(f"/item/{meta_only.listing_id}")
    assert response.headers["content-type"] == "text/html"
    assert b'<meta charset="gbk">' in response.content
    assert meta_only.title in response.content.decode("gbk")


def test_json_ld_is_schema_org_product(
    market: Marketplace, shop: DemoServer, client: httpx.Client
) -> None:
    listing = first(market, layout="jsonld", encoding="utf-8")
    html = client.get(f"/item/{listing.listing_id}").text
    data = json.loads(JSON_LD.search(html).group(1))
    assert data["@type"] == "Product"
    assert data["name"] == listing.title
    assert data["offers"]["price"] == str(listing.price)
    assert data["offers"]["priceCurrency"] == "CNY"
    assert data["brand"]["name"] == listing.brand
    assert data["offers"]["seller"]["name"] == market.shop(listing.shop_id).name
    assert data["image"][0].startswith(f"{shop.url}/img/")
    plain = first(market, layout="plain")
    assert "ld+json" not in client.get(f"/item/{plain.listing_id}").text


def test_js_page_has_no_static_price_but_the_api_has(
    market: Marketplace, client: httpx.Client
) -> None:
    listing = first(market, layout="js")
    html = client.get(f"/item/{listing.listing_id}").text
    assert '<span class="price" id="price"></span>' in html
    assert str(listing.price) not in html
    assert '<table class="attrs" id="attrs"></table>' in html
    api = client.get(f"/api/item/{listing.listing_id}.json").json()
    assert api["price"] == str(listing.price)
    assert [tuple(pair) for pair in api["attributes"]] == list(market.attributes(listing))


def test_detail_and_shop_pages_show_the_facts(market: Marketplace, client: httpx.Client) -> None:
    listing = first(market, layout="plain", encoding="utf-8")
    html = client.get(f"/item/{listing.listing_id}").text
    assert f"￥{listing.price}" in html and f"月销 {listing.sales}" in html
    for key, value in market.attributes(listing):
        assert f"<th>{key}</th><td>{value}</td>" in html
    assert f'href="/shop/{listing.shop_id}"' in html
    shop = market.shop(listing.shop_id)
    page = client.get(f"/shop/{listing.shop_id}").text
    assert shop.name in page and shop.opened.isoformat() in page
    assert f">{shop.rating:.1f}<" in page and shop.location in page
    assert (TODAY - shop.opened).days == shop.age_days(TODAY)


def test_images_decode_and_copies_look_like_the_original(
    market: Marketplace, client: httpx.Client
) -> None:
    copy = next(x for x in market.listings if x.copy_edit and not x.fault)
    genuine_name = f"g-{copy.category.id}-{copy.brand_index}.jpg"
    names = [*copy.images, genuine_name]
    marked = next(x for x in market.listings if "ccc_mark_image" in x.traits and not x.fault)
    names += list(marked.images)
    images = {}
    for name in names:
        response = client.get(f"/img/{name}")
        assert response.status_code == 200, name
        image = Image.open(io.BytesIO(response.content))
        image.load()
        assert image.format == ("PNG" if name.endswith(".png") else "JPEG")
        images[name] = image
    original = imagehash.phash(images[genuine_name])
    assert original - imagehash.phash(images[copy.images[0]]) <= 12
    assert original - imagehash.phash(images[copy.images[1]]) > 12
    assert client.get("/img/p99999-0.jpg").status_code == 404


def test_corrupt_image_is_served_as_jpeg_but_does_not_decode(
    market: Marketplace, client: httpx.Client
) -> None:
    broken = market.fault_listing(FAULT_CORRUPT_IMAGE)
    response = client.get(f"/img/{broken.images[0]}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    with pytest.raises(OSError):
        Image.open(io.BytesIO(response.content)).load()
    assert client.get(f"/item/{broken.listing_id}").status_code == 200  # the page itself is fine


def test_http_500_and_broken_page_faults(market: Marketplace, client: httpx.Client) -> None:
    failing = market.fault_listing(FAULT_HTTP_500)
    for _ in range(3):
        assert client.get(f"/item/{failing.listing_id}").status_code == 500
    broken = market.fault_listing(FAULT_BROKEN_HTML)
    response = client.get(f"/item/{broken.listing_id}")
    assert response.status_code == 200
    assert b"item-title" not in response.content and b"price" not in response.content
    assert client.get("/item/999").status_code == 404


def test_pagination_reaches_every_match_once(
    market: Marketplace, shop: DemoServer, client: httpx.Client
) -> None:
    keyword = "充电器"
    expected = [x.listing_id for x in market.search(keyword)]
    assert len(expected) > 2 * RESULTS_PER_PAGE
    seen: list[str] = []
    url: str | None = search_url(shop.url, keyword, 1)
    pages = []
    while url:
        html = client.get(url).text
        pages.append(url)
        ids = re.findall(r'class="item-link" href="/item/(\d+)"', html)
        assert len(ids) <= RESULTS_PER_PAGE
        seen += ids
        following = re.search(r'class="next" href="([^"]+)"', html)
        url = shop.url + following.group(1).replace("&amp;", "&") if following else None
    assert seen == expected
    assert len(pages) == market.page_count(keyword)
    assert pages == [u for u in market.all_urls(shop.url, [keyword]) if "/search" in u]
    empty = client.get(search_url(shop.url, "不存在的商品", 1)).text
    assert "没有找到" in empty and "item-link" not in empty


def test_all_urls_lists_search_detail_and_shop_pages(market: Marketplace) -> None:
    urls = market.all_urls("http://h:1")
    assert len(urls) == len(set(urls))
    details = [u for u in urls if "/item/" in u]
    assert len(details) == len(market.listings)  # every listing is in some category
    shops = {u.rsplit("/", 1)[1] for u in urls if "/shop/" in u}
    readable = [x for x in market.listings if x.fault not in (FAULT_HTTP_500, FAULT_BROKEN_HTML)]
    assert shops == {x.shop_id for x in readable}
    limited = market.all_urls("http://h:1", ["充电器"], max_pages=1)
    assert sum("/item/" in u for u in limited) == RESULTS_PER_PAGE


def test_keep_alive_robots_and_ground_truth(market: Marketplace, shop: DemoServer) -> None:
    parts = urlsplit(shop.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    for path in ("/robots.txt", "/", f"/item/{market.listings[5].listing_id}"):
        connection.request("GET", path)  # the same TCP connection each time (HTTP/1.1)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200
        assert int(response.getheader("Content-Length")) == len(body)
        if path == "/robots.txt":
            assert body == b"User-agent: *\nAllow: /\n"
    connection.request("GET", "/ground-truth.json")
    assert json.loads(connection.getresponse().read()) == market.ground_truth()
    connection.close()


def test_cli_prints_one_url_line_and_serves(tmp_path: Path) -> None:
    truth_file = tmp_path / "truth.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--listings", "40", "--seed", "3",
         "--write-ground-truth", str(truth_file)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert re.fullmatch(r"DEMO_URL http://127\.0\.0\.1:\d+\n", line)
        url = line.split()[1]
        assert httpx.get(f"{url}/search", params={"q": "复合肥"}).status_code == 200
        truth = json.loads(truth_file.read_text(encoding="utf-8"))
        assert len(truth) == 40
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.stdout.read() == ""  # nothing but the one line
    rejected = subprocess.run(
        [sys.executable, "-m", "demo", "--listings", "100001"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert rejected.returncode != 0 and "100000" in rejected.stderr
