"""IMAGE_SHARED_ACROSS_SHOPS: the same picture posted by ``min_shops`` or more different shops.

The image side records which shop posted which picture in ``home/seen_images.db`` and hands
over, per listing image, the other shops that posted it (``ImageSignal.shared_with_sellers``);
this rule counts them. A picture that matches a genuine reference photo is left to
IMAGE_OFFICIAL_REUSED (authorised resellers legitimately share official photos). Blank pictures
(white placeholders) are never indexed, so they never link shops; nor, unless
``count_greyscale`` is true, are pictures without colour: certificates, CCC emblems and spec
cards share one layout and differ only in their small print, which a 64-bit hash cannot see, so
two shops showing *different* certificates would look like one picture.

Counting is by arrival: the N-th shop to post a picture is flagged, the earlier ones are not
(they are linked to it through the seller network). ``max_distance`` is capped at 3 bits, the
radius up to which the band lookup in SQLite is exact.
"""

from __future__ import annotations

from marketguard.models import Flag
from matching.context import MatchContext, seller_key
from matching.hash_search import MAX_BAND_RADIUS
from matching.rules.base import ListingView, RuleText, Shared
from matching.yaml_schema import Node

RULE_ID = "IMAGE_SHARED_ACROSS_SHOPS"
PARAMS_REQUIRED = ("max_distance", "colour_tolerance", "min_shops", "snippet")
PARAMS_OPTIONAL = ("count_greyscale",)
PLACEHOLDERS = ("url", "shops", "min_shops", "other_shops", "distance")
SNIPPET_PLACEHOLDERS = ("url", "shops", "distance")
_SHOW_SHOPS = 5


class ImageSharedAcrossShopsRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        *,
        max_distance: int,
        colour_tolerance: int,
        min_shops: int,
        snippet: str,
        count_greyscale: bool = False,
    ) -> None:
        self.text = text
        self.max_distance = max_distance  # the search radius the image side uses
        self.colour_tolerance = colour_tolerance
        self.min_shops = min_shops
        self.snippet = snippet
        self.count_greyscale = count_greyscale  # read by the image side when it records

    def applies_with(self, context: MatchContext) -> bool:
        return bool(context.images)

    def check(self, ctx: ListingView) -> Flag | None:
        images = ctx.context.images
        if not images:
            return None
        listing = ctx.listing
        seller = listing.seller
        shop = seller_key(listing.platform, seller.seller_id) if seller is not None else ""
        for image in images:
            if image.reference_matches:
                continue
            others = image.shared_with_sellers - {shop}
            shops = len(others) + (1 if shop else 0)
            if shops < self.min_shops:
                continue
            values = {"url": image.url, "shops": shops, "distance": f"≤{self.max_distance}"}
            shown = sorted(others)[:_SHOW_SHOPS]
            more = len(others) - len(shown)
            return self.text.flag(
                snippet=self.snippet.format(**values),
                field=f"image:{image.url}",
                min_shops=self.min_shops,
                other_shops="、".join(shown) + (f" 等{len(others)}家" if more > 0 else ""),
                **values,
            )
        return None


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> ImageSharedAcrossShopsRule:
    distance = fields["max_distance"].integer(minimum=0)
    if distance > MAX_BAND_RADIUS:
        fields["max_distance"].fail(
            f"at most {MAX_BAND_RADIUS} bits, the radius the band lookup finds exactly "
            f"(got {distance})"
        )
    return ImageSharedAcrossShopsRule(
        text,
        max_distance=distance,
        colour_tolerance=fields["colour_tolerance"].integer(minimum=-1),
        min_shops=fields["min_shops"].integer(minimum=2),
        snippet=fields["snippet"].template(SNIPPET_PLACEHOLDERS),
        count_greyscale=fields["count_greyscale"].boolean()
        if "count_greyscale" in fields
        else False,
    )
