"""What travels between workers: plain JSON for the models and for a listing's slice of its
pass's context.

Matching a listing weighs facts of its pass that depend on arrival order: the peer prices of
the listings matched before it, and the shops seen so far that share a phone, an address, a
licence number or a picture with its shop. The crawl process sees every listing of the pass in
order, as the single-process pipeline does, so it cuts each listing's slice of those facts and
sends it along; the match worker adds what is the same for the whole pass (the certificate
registry, the repeat offenders). A pass spread over workers thus weighs exactly the facts the
single-process pass would.
"""

from __future__ import annotations

from typing import Any

from marketguard.models import Evidence, Flag, Listing, PageError, _parse_dt
from matching.context import (
    MatchContext,
    PeerPrices,
    PeerStats,
    SellerLink,
    brand_key,
    listing_brand,
    seller_key,
)
from matching.image_signals import ImageSignal, ReferenceMatch


def image_signal_to_dict(signal: ImageSignal) -> dict[str, Any]:
    return {
        "url": signal.url,
        "phash": signal.phash,
        "reference_matches": [
            {
                "brand": m.brand,
                "reference_id": m.reference_id,
                "distance": m.distance,
                "authorised_sellers": sorted(m.authorised_sellers),
            }
            for m in signal.reference_matches
        ],
        "shared_with_sellers": sorted(signal.shared_with_sellers),
        "ocr_text": signal.ocr_text,
        "ccc_mark": signal.ccc_mark,
        "error": signal.error,
        "linkable": signal.linkable,
    }


def image_signal_from_dict(data: dict[str, Any]) -> ImageSignal:
    return ImageSignal(
        url=data["url"],
        phash=data.get("phash"),
        reference_matches=tuple(
            ReferenceMatch(
                brand=m["brand"],
                reference_id=m["reference_id"],
                distance=int(m["distance"]),
                authorised_sellers=frozenset(m.get("authorised_sellers", ())),
            )
            for m in data.get("reference_matches", ())
        ),
        shared_with_sellers=frozenset(data.get("shared_with_sellers", ())),
        ocr_text=data.get("ocr_text", ""),
        ccc_mark=bool(data.get("ccc_mark", False)),
        error=data.get("error", ""),
        linkable=bool(data.get("linkable", True)),
    )


def context_slice(context: MatchContext, listing: Listing, category: str) -> dict[str, Any]:
    """The facts of ``context`` that matching ``listing`` (of ``category``) can consult and that
    depend on the pass: its peer groups, its shop's links, its image signals."""
    peers: list[list[Any]] = []
    if context.peer_prices is not None and category:
        for brand in dict.fromkeys((listing_brand(listing), "")):
            stats = context.peer_prices.get(category, brand)
            if stats is not None:
                peers.append([category, brand_key(brand), stats.median, stats.mad, stats.count])
    links: list[dict[str, Any]] = []
    shop = ""
    if listing.seller is not None and listing.seller.seller_id:
        shop = seller_key(listing.platform, listing.seller.seller_id)
        for link in context.seller_links.get(shop, ()):
            links.append(
                {"kind": link.kind, "value": link.value, "others": sorted(link.other_sellers)}
            )
    return {
        "peers": peers,
        "shop": shop,
        "links": links,
        "images": [image_signal_to_dict(s) for s in context.images],
    }


def context_from_slice(data: dict[str, Any], base: MatchContext) -> MatchContext:
    """A listing's MatchContext: ``base`` (registry, repeat offenders) plus its pass slice."""
    stats = {
        (category, brand): PeerStats(median=median, mad=mad, count=count)
        for category, brand, median, mad, count in data.get("peers", ())
    }
    links = tuple(
        SellerLink(link["kind"], link["value"], frozenset(link["others"]))
        for link in data.get("links", ())
    )
    return MatchContext(
        registry=base.registry,
        repeat_offenders=base.repeat_offenders,
        peer_prices=PeerPrices(stats),
        seller_links={data["shop"]: links} if data.get("shop") and links else {},
        images=tuple(image_signal_from_dict(s) for s in data.get("images", ())),
    )


def flags_to_list(flags: list[Flag]) -> list[dict[str, Any]]:
    return [flag.to_dict() for flag in flags]


def flags_from_list(data: list[dict[str, Any]]) -> list[Flag]:
    return [Flag.from_dict(item) for item in data]


def errors_to_list(errors: list[PageError]) -> list[dict[str, Any]]:
    return [error.to_dict() for error in errors]


def errors_from_list(data: list[dict[str, Any]]) -> list[PageError]:
    return [
        PageError(url=e["url"], kind=e["kind"], message=e["message"], at=_parse_dt(e["at"]))
        for e in data
    ]


def evidence_from(data: dict[str, Any] | None) -> Evidence | None:
    return Evidence.from_dict(data) if data else None


def listing_from(data: dict[str, Any]) -> Listing:
    return Listing.from_dict(data)
