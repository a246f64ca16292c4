"""Shared by the certificate-registry rules: which claimed numbers to look up, and the
listing's own model and maker, read the same way for all three rules.

Only well-formed numbers (16 digits, plausible year) are looked up: a malformed one is
CCC_NUMBER_INVALID's case. Without a registry in the MatchContext the three rules stay silent.
"""

from __future__ import annotations

import re
import unicodedata

from matching.context import CertificateRecord
from matching.rules.base import ListingView
from matching.rules.ccc_certificate import CccScanner, CertNumber

MODEL_KEYS = frozenset({"型号", "规格型号", "产品型号", "型號", "model", "Model", "MODEL"})
MAKER_KEYS = frozenset(
    {"生产企业", "生产厂家", "生产商", "制造商", "厂名", "厂家", "生产者", "制造企业", "委托方"}
)
_MODEL_NOISE = re.compile(r"[\s\-_/.·]")
_COMPANY_SUFFIX = re.compile(r"(股份)?(有限责任公司|有限公司|公司|集团|厂)$")


def registry_hits(
    ctx: ListingView, scanner: CccScanner
) -> list[tuple[CertNumber, CertificateRecord | None]]:
    """(claimed number, registry record or None) for each well-formed number, each once.

    Worked out once per listing and kept on the view: the three registry rules all ask.
    """
    hits: list[tuple[CertNumber, CertificateRecord | None]] | None = ctx.cache.get(
        "registry_hits"
    )
    if hits is not None:
        return hits
    hits = []
    registry = ctx.context.registry
    if registry:
        seen: set[str] = set()
        year = ctx.crawl_date.year
        for number in scanner.facts(ctx).numbers:
            token = number.token
            if token in seen or not (token.isascii() and token.isdigit() and len(token) == 16):
                continue
            if not 2001 <= int(token[:4]) <= year:
                continue
            seen.add(token)
            hits.append((number, registry.get(token)))
    ctx.cache["registry_hits"] = hits
    return hits


def model_key(text: str) -> str:
    return _MODEL_NOISE.sub("", unicodedata.normalize("NFKC", text)).upper()


def listing_model(ctx: ListingView) -> str:
    model = ctx.listing.model
    if isinstance(model, str) and model.strip():
        return model.strip()
    found = ctx.attribute(MODEL_KEYS)
    return found[1].strip() if found else ""


def listing_maker(ctx: ListingView) -> str:
    found = ctx.attribute(MAKER_KEYS)
    return found[1].strip() if found else ""


def company_key(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).replace(" ", "")
    return _COMPANY_SUFFIX.sub("", text)
