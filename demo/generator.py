"""The demo marketplace's data, generated deterministically from a seed.

``generate(seed, listings)`` returns a :class:`Marketplace`: shops, listings and the ground truth
(which rules each listing violates, which tricky traits it has, which injected fault it carries).
The same seed, listing count, options and day give the same shop, byte for byte.

Shop opening dates are stored relative to the generation day (``today``), so a shop that is 40 days
old stays 40 days old for a crawl on the same day, whatever the date is.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from demo.catalogue import Category, load_categories
from demo.vocabulary import (
    LOCATIONS,
    MAKER_CITIES,
    MODEL_LETTERS,
    NEGATIONS,
    SHOP_PREFIXES,
    SHOP_SENTENCES,
    SHOP_SUFFIXES,
    SLANG,
    SLANG_SENTENCES,
    words_for,
)

RESULTS_PER_PAGE = 20
MAX_LISTINGS = 100_000
PLATFORM = "demo"
CHINA_TZ = timezone(timedelta(hours=8))  # China has no DST; shop dates are Beijing dates

# Thresholds shared with matching/data/rules.yaml (the demo's ground truth must agree with them).
PRICE_FLOOR_FACTOR = Decimal("0.4")
SELLER_RISK_MAX_AGE_DAYS = 90
SELLER_RISK_MIN_RATING = 4.5
CCC_VALID_YEARS = (2002, 2025)

CCC_MISSING = "CCC_MISSING"
CCC_NUMBER_INVALID = "CCC_NUMBER_INVALID"
COUNTERFEIT_WORDING = "COUNTERFEIT_WORDING"
PRICE_TOO_LOW = "PRICE_TOO_LOW"
SELLER_RISK = "SELLER_RISK"
IMAGE_OFFICIAL_REUSED = "IMAGE_OFFICIAL_REUSED"
CCC_RULES = (CCC_MISSING, CCC_NUMBER_INVALID, COUNTERFEIT_WORDING, PRICE_TOO_LOW, SELLER_RISK)
PLAIN_RULES = (COUNTERFEIT_WORDING, PRICE_TOO_LOW, SELLER_RISK)

FAULT_HTTP_500 = "http_500"
FAULT_BROKEN_HTML = "broken_html"
FAULT_CORRUPT_IMAGE = "corrupt_image"
T = TypeVar("T")

FAULTS = (FAULT_HTTP_500, FAULT_BROKEN_HTML, FAULT_CORRUPT_IMAGE)

VIOLATOR_SHARE = 0.46
JSONLD_SHARE = 0.40
GBK_SHARE = 0.15


@dataclass(frozen=True, slots=True)
class Shop:
    shop_id: str
    name: str
    opened: date
    rating: float
    province: str
    city: str
    kind: str  # "normal", "risky", "new_high" (new, well rated), "old_low" (old, poorly rated)
    failing: bool = False  # answers HTTP 500 (only with generate(shop_fault=True))

    @property
    def location(self) -> str:
        return f"{self.province} {self.city}"

    def age_days(self, on: date) -> int:
        return (on - self.opened).days


@dataclass(slots=True)
class DemoListing:
    """One listing as the demo shop holds it: what the pages show and how they show it."""

    listing_id: str
    index: int
    category: Category
    brand: str
    brand_index: int
    model: str
    spec: str
    title: str
    price: Decimal
    sales: int
    shop_id: str
    rules: tuple[str, ...]
    traits: tuple[str, ...]
    fault: str | None
    layout: str  # "plain", "jsonld" or "js" (price and attributes loaded by JavaScript)
    encoding: str  # "utf-8", "gbk-header" (charset in Content-Type) or "gbk-meta" (<meta> only)
    cert: str | None  # certificate number as shown (valid or not)
    cert_key: str | None  # attribute key of the number; None with a number = in the description
    licence: str | None  # fertilizer production licence number
    show_maker: bool
    slang: str | None
    slang_in_title: bool
    negation: str | None
    copy_edit: str | None  # "crop", "brightness", "recompress": main image is an edited copy
    images: tuple[str, ...]  # image file names under /img/

    @property
    def charset(self) -> str:
        return "utf-8" if self.encoding == "utf-8" else "gbk"


@dataclass
class Marketplace:
    seed: int
    today: date
    categories: tuple[Category, ...]
    shops: dict[str, Shop]
    listings: list[DemoListing]
    js_share: float
    faults: bool
    _by_id: dict[str, DemoListing] = field(default_factory=dict, repr=False)
    _search_cache: dict[str, tuple[DemoListing, ...]] = field(default_factory=dict, repr=False)
    _text_cache: dict[str, tuple[tuple[tuple[str, str], ...], str]] = field(
        default_factory=dict, repr=False
    )
    _authorised_cache: dict[str, frozenset[str]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {listing.listing_id: listing for listing in self.listings}

    # --- lookups ----------------------------------------------------------------------------
    def listing(self, listing_id: str) -> DemoListing | None:
        return self._by_id.get(listing_id)

    def shop(self, shop_id: str) -> Shop | None:
        return self.shops.get(shop_id)

    def search_terms(self) -> list[str]:
        """Every category's search terms, in catalogue order (what the watchlist searches)."""
        return [term for category in self.categories for term in category.search_terms]

    def search(self, query: str) -> tuple[DemoListing, ...]:
        """Listings whose category has ``query`` as a search term or whose title contains it."""
        query = query.strip()
        cached = self._search_cache.get(query)
        if cached is not None:
            return cached
        if not query:
            return ()
        ids = {c.id for c in self.categories if query in c.search_terms}
        found = tuple(x for x in self.listings if x.category.id in ids or query in x.title)
        if len(self._search_cache) > 256:  # arbitrary user queries must not grow it forever
            self._search_cache.clear()
        self._search_cache[query] = found
        return found

    def page_count(self, query: str) -> int:
        return max(1, -(-len(self.search(query)) // RESULTS_PER_PAGE))

    def fault_listing(self, fault: str) -> DemoListing | None:
        return next((x for x in self.listings if x.fault == fault), None)

    def failing_shop(self) -> Shop | None:
        return next((s for s in self.shops.values() if s.failing), None)

    # --- what pages show ----------------------------------------------------------------------
    def attributes(self, listing: DemoListing) -> tuple[tuple[str, str], ...]:
        return self._texts(listing)[0]

    def description(self, listing: DemoListing) -> str:
        return self._texts(listing)[1]

    def _texts(self, listing: DemoListing) -> tuple[tuple[tuple[str, str], ...], str]:
        cached = self._text_cache.get(listing.listing_id)
        if cached is None:
            cached = _build_texts(self.seed, listing)
            if len(self._text_cache) > 20_000:
                self._text_cache.clear()
            self._text_cache[listing.listing_id] = cached
        return cached

    # --- the brands' genuine photos ------------------------------------------------------------
    def authorised_resellers(self) -> dict[str, frozenset[str]]:
        """Per brand name: the shops (``demo:<shop id>``) the brand lets use its genuine photos.

        In the demo, the honest resellers are the shops that post a brand's genuine photo as-is
        (trait ``genuine_photo``). A brand no shop posts that way has no list: "not known", so
        IMAGE_OFFICIAL_REUSED flags nobody for it. Brand names are shared across categories,
        as the reference library keys authorisations by brand.
        """
        out: dict[str, set[str]] = {}
        for listing in self.listings:
            if "genuine_photo" in listing.traits:
                out.setdefault(listing.brand, set()).add(f"{PLATFORM}:{listing.shop_id}")
        return {brand: frozenset(shops) for brand, shops in out.items()}

    def image_rules(self, listing: DemoListing) -> tuple[str, ...]:
        """The image rules a listing's planted pictures should trigger in ``marketguard demo``
        (which puts every brand's genuine photo and its resellers into the reference library).

        An edited copy of a brand's genuine photo posted by a shop the brand did not authorise:
        IMAGE_OFFICIAL_REUSED. Nothing else: the demo plants no shop networks and no picture
        shared by unrelated shops (each listing's own photos are its own), because "the N-th
        shop to post it" depends on the order a concurrent crawl happens to read listings.
        """
        if listing.copy_edit is None:
            return ()
        authorised = self._authorised().get(listing.brand)
        if not authorised or f"{PLATFORM}:{listing.shop_id}" in authorised:
            return ()
        return (IMAGE_OFFICIAL_REUSED,)

    def _authorised(self) -> dict[str, frozenset[str]]:
        if self._authorised_cache is None:
            self._authorised_cache = self.authorised_resellers()
        return self._authorised_cache

    # --- for the benchmark and the tests ------------------------------------------------------
    def ground_truth(self) -> dict[str, dict]:
        """Per listing: its category, the rules a pass must flag (text rules as planted, plus
        the image rules of its pictures), its tricky traits and its injected fault."""
        return {
            x.listing_id: {
                "category": x.category.id,
                "rules": sorted({*x.rules, *self.image_rules(x)}),
                "traits": list(x.traits),
                "fault": x.fault,
            }
            for x in self.listings
        }

    def found_by(self, keywords: list[str] | None = None) -> list[DemoListing]:
        """The listings a crawl searching ``keywords`` reaches (default: all search terms)."""
        seen: dict[str, DemoListing] = {}
        for keyword in keywords if keywords is not None else self.search_terms():
            for listing in self.search(keyword):
                seen.setdefault(listing.listing_id, listing)
        return sorted(seen.values(), key=lambda x: x.index)

    def all_urls(
        self, base_url: str, keywords: list[str] | None = None, max_pages: int | None = None
    ) -> list[str]:
        """Every search, detail and shop page URL the spider visits, each once.

        Search pages first (per keyword, page 1..N), then detail pages, then shop pages. With
        ``max_pages`` only the listings on the first pages count, as for the spider.
        """
        base = base_url.rstrip("/")
        urls: list[str] = []
        listings: dict[str, DemoListing] = {}
        for keyword in keywords if keywords is not None else self.search_terms():
            pages = self.page_count(keyword)
            if max_pages is not None:
                pages = min(pages, max_pages)
            urls.extend(search_url(base, keyword, page) for page in range(1, pages + 1))
            for listing in self.search(keyword)[: pages * RESULTS_PER_PAGE]:
                listings.setdefault(listing.listing_id, listing)
        ordered = sorted(listings.values(), key=lambda x: x.index)
        urls.extend(f"{base}/item/{x.listing_id}" for x in ordered)
        shop_ids = dict.fromkeys(x.shop_id for x in ordered if x.fault not in _UNREADABLE)
        urls.extend(f"{base}/shop/{shop_id}" for shop_id in shop_ids)
        return urls


# Detail pages of these faults never parse, so the spider never learns (or visits) their shop.
_UNREADABLE = (FAULT_HTTP_500, FAULT_BROKEN_HTML)


def search_url(base_url: str, query: str, page: int = 1) -> str:
    """The URL of one search result page, exactly as the shop's own links write it."""
    return f"{base_url.rstrip('/')}/search?q={quote(query, safe='')}&page={page}"


def generate(
    seed: int = 7,
    listings: int = 300,
    *,
    faults: bool = True,
    js_share: float = 0.10,
    today: date | None = None,
    catalogue: Path | None = None,
    shop_fault: bool = False,
) -> Marketplace:
    """Build the demo marketplace.

    ``faults`` injects three broken listings (HTTP 500, garbage HTML, corrupt main image);
    ``shop_fault`` additionally makes one shop page answer HTTP 500 (for tests of that path).
    """
    if not 1 <= listings <= MAX_LISTINGS:
        raise ValueError(f"listings must be between 1 and {MAX_LISTINGS}, not {listings}")
    if not 0.0 <= js_share <= 1.0:
        raise ValueError(f"js_share must be between 0 and 1, not {js_share}")
    today = today or datetime.now(CHINA_TZ).date()
    categories = load_categories(catalogue)
    shops, pools = _make_shops(Dice(f"shops-{seed}"), listings, today)
    fault_at = _fault_positions(categories, listings) if faults else {}
    rng = Dice(seed)
    made: list[DemoListing] = []
    for index in range(listings):
        category = categories[index % len(categories)]
        listing = _make_listing(rng, index, category, pools, js_share, fault=None)
        if index in fault_at:
            # Built from its own generator so the other listings do not depend on --no-faults.
            own = Dice(f"fault-{seed}-{index}")
            listing = _make_listing(own, index, category, pools, js_share, fault=fault_at[index])
        made.append(listing)
    if shop_fault:
        shops = _fail_one_shop(shops, made, fault_at)
    return Marketplace(
        seed=seed,
        today=today,
        categories=categories,
        shops=shops,
        listings=made,
        js_share=js_share,
        faults=faults,
    )


class Dice(random.Random):
    """``random.Random`` with cheap choice/randint: 100 000 listings must generate in seconds."""

    def pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.random() * len(seq))]

    def between(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))


# --- shops ------------------------------------------------------------------------------------
def _make_shops(
    rng: Dice, listings: int, today: date
) -> tuple[dict[str, Shop], dict[str, list[str]]]:
    count = max(12, listings // 6)
    kinds = ["risky"] * max(2, count * 12 // 100)
    kinds += ["new_high"] * max(1, count * 7 // 100)
    kinds += ["old_low"] * max(1, count * 7 // 100)
    kinds += ["normal"] * (count - len(kinds))
    rng.shuffle(kinds)
    shops: dict[str, Shop] = {}
    pools: dict[str, list[str]] = {"risky": [], "new_high": [], "old_low": [], "normal": []}
    names: set[str] = set()
    for number, kind in enumerate(kinds):
        # New shops stay well under 90 days (a crawl weeks after generation still sees them new).
        age = rng.between(5, 60) if kind in ("risky", "new_high") else rng.between(150, 3000)
        if kind in ("risky", "old_low"):
            rating = rng.between(30, 44) / 10
        else:
            rating = rng.between(46, 50) / 10
        province, city = rng.pick(LOCATIONS)
        name = f"{rng.pick(SHOP_PREFIXES)}{rng.pick(SHOP_SUFFIXES)}"
        shop_id = str(5001 + number)
        if name in names:
            name = f"{name}{number}号"
        names.add(name)
        shops[shop_id] = Shop(
            shop_id=shop_id,
            name=name,
            opened=today - timedelta(days=age),
            rating=rating,
            province=province,
            city=city,
            kind=kind,
        )
        pools[kind].append(shop_id)
    return shops, pools


def _fail_one_shop(
    shops: dict[str, Shop], listings: list[DemoListing], fault_at: dict[int, str]
) -> dict[str, Shop]:
    # The corrupt-image listing is clean and readable, so its shop is a good one to break.
    target = next((listings[i] for i, f in fault_at.items() if f == FAULT_CORRUPT_IMAGE), None)
    shop_id = target.shop_id if target else listings[0].shop_id
    shops = dict(shops)
    shops[shop_id] = dataclasses.replace(shops[shop_id], failing=True)
    return shops


def _fault_positions(categories: tuple[Category, ...], listings: int) -> dict[int, str]:
    """Faults go on the first listings of the first category (easy to reach from one keyword)."""
    step = len(categories)
    positions = [i for i in range(0, listings, step)][: len(FAULTS)]
    return dict(zip(positions, FAULTS, strict=False))


# --- listings ---------------------------------------------------------------------------------
def _make_listing(
    rng: Dice,
    index: int,
    category: Category,
    pools: dict[str, list[str]],
    js_share: float,
    fault: str | None,
) -> DemoListing:
    words = words_for(category.id)
    applicable = CCC_RULES if category.ccc_required else PLAIN_RULES
    rules: set[str] = set()
    if fault is None and rng.random() < VIOLATOR_SHARE:
        rules.add(rng.pick(applicable))
        for chance in (0.35, 0.10):
            if rng.random() < chance:
                rules.add(rng.pick(applicable))
        if CCC_MISSING in rules and CCC_NUMBER_INVALID in rules:
            rules.discard(rng.pick((CCC_MISSING, CCC_NUMBER_INVALID)))
    traits: list[str] = []
    clean = not rules

    brand_index = rng.between(0, len(words["brands"]) - 1)
    brand = words["brands"][brand_index]
    model = (
        rng.pick(MODEL_LETTERS) + rng.pick(MODEL_LETTERS) + "-" + str(rng.between(10, 999))
    )
    spec = rng.pick(words["specs"])
    keyword = category.keywords[0] if category.keywords else category.name
    title = rng.pick(words["titles"]).format(b=brand, m=model, s=spec, k=keyword)

    # Shop: risky for SELLER_RISK; otherwise mostly normal, sometimes a tricky-but-fine one.
    roll = rng.random()
    if SELLER_RISK in rules:
        kind = "risky"
    elif fault is None and roll < 0.07:
        kind = "new_high"
        traits.append("new_shop_high_rating")
    elif fault is None and roll < 0.14:
        kind = "old_low"
        traits.append("old_shop_low_rating")
    else:
        kind = "normal"
    shop_id = rng.pick(pools[kind])

    price = _price(rng, category, too_low=PRICE_TOO_LOW in rules)
    if clean and fault is None and rng.random() < 0.06:
        floor = category.price_low * PRICE_FLOOR_FACTOR
        price = (floor * Decimal(str(1 + rng.between(2, 15) / 100))).quantize(
            Decimal("0.1"), rounding=ROUND_CEILING
        ).quantize(Decimal("0.01"))
        traits.append("price_near_threshold")
    sales = rng.between(0, 3000) if clean else rng.between(50, 30000)

    slang = None
    slang_in_title = False
    if COUNTERFEIT_WORDING in rules:
        slang = rng.pick(SLANG)
        slang_in_title = rng.random() < 0.5
        if slang_in_title:
            title = f"{slang} {title}" if rng.random() < 0.5 else f"{title} {slang}"
    negation = None
    if clean and fault is None and rng.random() < 0.10:
        negation = rng.pick(NEGATIONS)
        traits.append("negation_wording")

    cert = None
    cert_key = None
    licence = None
    show_maker = True
    if category.ccc_required:
        valid = _valid_certificate(rng, category, words["ccc_code"])
        key = rng.pick(("3C证书编号", "CCC证书编号"))
        if CCC_MISSING in rules:
            show_maker = rng.random() < 0.5
        elif CCC_NUMBER_INVALID in rules:
            cert = _invalid_certificate(rng, valid)
            cert_key = key if rng.random() < 0.7 else None
        else:
            cert = valid
            if clean and fault is None and rng.random() < 0.10:
                traits.append("ccc_in_description")
            else:
                cert_key = key
    else:
        licence = f"XK13-001-{rng.between(1, 999):05d}"
        traits.append("fertilizer_licence")

    # Images: the main one may be the brand's genuine photo or an edited copy of it.
    images = [f"p{index}-0.jpg", f"p{index}-1.jpg"]
    copy_edit = None
    image_roll = rng.random()
    if fault is None and image_roll < (0.35 if rules else 0.08):
        copy_edit = rng.pick(("crop", "brightness", "recompress"))
        images[0] = f"c{index}.jpg"
        traits.append(f"image_copy_{copy_edit}")
    elif fault is None and clean and image_roll < 0.35:
        images[0] = f"g-{category.id}-{brand_index}.jpg"
        traits.append("genuine_photo")
    if cert is not None and rng.random() < 0.4:
        images.append(f"m{index}.png")
        traits.append("ccc_mark_image")

    layout_roll = rng.random()
    encoding_roll = rng.random()
    layout = "plain"
    encoding = "utf-8"
    # JS pages stay UTF-8 without JSON-LD, so the shares below are of the remaining pages.
    rest = max(1e-9, 1.0 - js_share)
    if fault is None and layout_roll < js_share:
        layout = "js"
        traits.append("js_rendered")
    elif fault is None:
        if rng.random() < JSONLD_SHARE / rest:
            layout = "jsonld"
            traits.append("jsonld")
        if encoding_roll < GBK_SHARE / rest:
            encoding = "gbk-header" if encoding_roll < GBK_SHARE / rest / 2 else "gbk-meta"
            traits.append(encoding.replace("-", "_"))

    return DemoListing(
        listing_id=str(100_001 + index),
        index=index,
        category=category,
        brand=brand,
        brand_index=brand_index,
        model=model,
        spec=spec,
        title=title,
        price=price,
        sales=sales,
        shop_id=shop_id,
        rules=tuple(sorted(rules)),
        traits=tuple(traits),
        fault=fault,
        layout=layout,
        encoding=encoding,
        cert=cert,
        cert_key=cert_key,
        licence=licence,
        show_maker=show_maker,
        slang=slang,
        slang_in_title=slang_in_title,
        negation=negation,
        copy_edit=copy_edit,
        images=tuple(images),
    )


def _price(rng: Dice, category: Category, *, too_low: bool) -> Decimal:
    low, high = category.price_low, category.price_high
    if too_low:
        floor = low * PRICE_FLOOR_FACTOR
        value = floor * Decimal(rng.between(20, 90)) / 100
        return max(value.quantize(Decimal("0.01"), rounding=ROUND_FLOOR), Decimal("0.50"))
    top = min(high, low * 4)
    whole = rng.between(int(low) + 1, max(int(low) + 1, int(top) - 1))
    cents = rng.pick(("00", "90", "99", "80", "50"))
    return Decimal(f"{whole}.{cents}")


def _valid_certificate(rng: Dice, category: Category, code: str) -> str:
    first = max(CCC_VALID_YEARS[0], category.ccc_since_year or CCC_VALID_YEARS[0])
    year = rng.between(min(first, CCC_VALID_YEARS[1]), CCC_VALID_YEARS[1])
    code = code or f"{rng.between(101, 2999):04d}"
    return f"{year}01{code}{rng.between(0, 999_999):06d}"


def _invalid_certificate(rng: Dice, valid: str) -> str:
    form = rng.pick(("short", "long", "letters", "old_year", "future_year"))
    if form == "short":
        return valid[: rng.between(9, 13)]  # 8+ digits: the matcher reads shorter ones as no number
    if form == "long":
        return valid + str(rng.between(1, 99))
    if form == "letters":
        return f"2099{valid[4:14]}XX"
    if form == "old_year":
        return f"{rng.between(1990, 2000)}{valid[4:]}"
    return f"{rng.between(2030, 2099)}{valid[4:]}"


def _build_texts(seed: int, listing: DemoListing) -> tuple[tuple[tuple[str, str], ...], str]:
    """Attributes and description; drawn on demand from the listing's own generator."""
    rng = Dice(seed * 1_000_003 + listing.index)
    words = words_for(listing.category.id)
    attrs: list[tuple[str, str]] = [("品牌", listing.brand)]
    if listing.category.ccc_required:
        attrs.append(("型号", listing.model))
    attrs.append((words["spec_key"], listing.spec))
    for key, values in words["extra"]:
        attrs.append((key, rng.pick(values)))
    if listing.cert is not None and listing.cert_key is not None:
        attrs.append((listing.cert_key, listing.cert))
    if listing.licence is not None:
        attrs.append(("生产许可证号", listing.licence))
    if listing.show_maker:
        maker_city = MAKER_CITIES[(listing.brand_index + len(listing.brand)) % len(MAKER_CITIES)]
        attrs.append(("生产企业", f"{maker_city}市{listing.brand}{words['industry']}有限公司"))
    if listing.category.standards:
        attrs.append(("执行标准", listing.category.standards[0]))

    sentences = list(words["sentences"])
    rng.shuffle(sentences)
    parts = sentences[: rng.between(2, len(sentences))]
    if listing.cert is not None and listing.cert_key is None:
        if "ccc_in_description" in listing.traits:
            parts.append(f"本品已通过3C认证，证书编号：{listing.cert}。")
        else:
            parts.append(f"证书编号：{listing.cert}。")
    if listing.slang is not None and not listing.slang_in_title:
        parts.insert(rng.between(0, len(parts)), rng.pick(SLANG_SENTENCES).format(w=listing.slang))
    if listing.negation is not None:
        parts.append(listing.negation)
    parts.append(rng.pick(SHOP_SENTENCES))
    return tuple(attrs), "".join(parts)
