"""Generic product extraction: bytes of any product page -> a Listing.

``decoding`` (charset detection that survives wrong headers), ``prices`` (Chinese price forms),
``structured`` (schema.org / OpenGraph through extruct) and ``generic`` (all of it, plus a plain
HTML fallback). Site adapters (``crawlers.site_adapter``) build on the same pieces.
"""

from crawlers.extraction.decoding import DecodedPage, decode_html
from crawlers.extraction.generic import (
    PageExtraction,
    extract_listing,
    listing_from_text,
    listing_id_from_url,
    platform_of,
)
from crawlers.extraction.prices import PriceReading, parse_price
from crawlers.extraction.structured import ProductData, extract_product

__all__ = [
    "DecodedPage",
    "PageExtraction",
    "PriceReading",
    "ProductData",
    "decode_html",
    "extract_listing",
    "extract_product",
    "listing_from_text",
    "listing_id_from_url",
    "parse_price",
    "platform_of",
]
