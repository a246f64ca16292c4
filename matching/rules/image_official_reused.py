"""IMAGE_OFFICIAL_REUSED: a genuine brand photo from the reference library, posted by a seller
the brand did not authorise.

The image side (crawlers/pipelines/images.py) looks each listing image up in ``home/refs.db``
and hands the matches over as ``ImageSignal.reference_matches``; this rule only weighs them.
Fires on the first image within ``max_distance`` bits of a reference photo when the listing's
seller is not among the sellers authorised for ANY brand that photo matched (two brands' photos
can look alike; the benefit of the doubt goes to the seller). A brand whose library entry names
no authorised sellers flags nobody unless ``flag_without_authorised_list`` is true: an empty
list means "not known", not "nobody".
"""

from __future__ import annotations

from marketguard.models import Flag
from matching.context import MatchContext, brand_key, seller_key
from matching.rules.base import ListingView, RuleText, Shared
from matching.yaml_schema import Node

RULE_ID = "IMAGE_OFFICIAL_REUSED"
PARAMS_REQUIRED = ("max_distance", "colour_tolerance", "snippet")
PARAMS_OPTIONAL = ("flag_without_authorised_list",)
PLACEHOLDERS = ("brand", "url", "distance", "reference_id", "seller_name")
SNIPPET_PLACEHOLDERS = ("url", "distance", "brand", "reference_id")
# Beyond this many bits, two different product shots on white start to look "the same".
LARGEST_DISTANCE = 10


class ImageOfficialReusedRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        *,
        max_distance: int,
        colour_tolerance: int,
        snippet: str,
        flag_without_authorised_list: bool = False,
    ) -> None:
        self.text = text
        self.max_distance = max_distance
        self.colour_tolerance = colour_tolerance  # read by the image side when it searches
        self.snippet = snippet
        self.flag_without_authorised_list = flag_without_authorised_list

    def applies_with(self, context: MatchContext) -> bool:
        return bool(context.images)

    def check(self, ctx: ListingView) -> Flag | None:
        images = ctx.context.images
        if not images:
            return None
        listing = ctx.listing
        seller = listing.seller
        shop = seller_key(listing.platform, seller.seller_id) if seller is not None else ""
        own_brand = brand_key(listing.brand) if isinstance(listing.brand, str) else ""
        for image in images:
            matches = [m for m in image.reference_matches if m.distance <= self.max_distance]
            if not matches:
                continue
            if shop and any(shop in m.authorised_sellers for m in matches):
                continue
            if not self.flag_without_authorised_list and any(
                not m.authorised_sellers for m in matches
            ):
                continue
            # Name the brand the listing claims when its photo is among the matches.
            best = min(matches, key=lambda m: (brand_key(m.brand) != own_brand, m.distance))
            values = {
                "url": image.url,
                "distance": best.distance,
                "brand": best.brand,
                "reference_id": best.reference_id,
            }
            return self.text.flag(
                snippet=self.snippet.format(**values),
                field=f"image:{image.url}",
                seller_name=(seller.name or seller.seller_id) if seller is not None else "",
                **values,
            )
        return None


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> ImageOfficialReusedRule:
    distance = fields["max_distance"].integer(minimum=0)
    if distance > LARGEST_DISTANCE:
        fields["max_distance"].fail(f"at most {LARGEST_DISTANCE} bits (got {distance})")
    flag_anyway = fields.get("flag_without_authorised_list")
    return ImageOfficialReusedRule(
        text,
        max_distance=distance,
        colour_tolerance=fields["colour_tolerance"].integer(minimum=-1),
        snippet=fields["snippet"].template(SNIPPET_PLACEHOLDERS),
        flag_without_authorised_list=flag_anyway.boolean() if flag_anyway else False,
    )
