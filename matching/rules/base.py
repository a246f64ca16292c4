"""What every rule shares: its officer-facing text, the per-listing context, the rule protocol."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from itertools import chain
from typing import TYPE_CHECKING, Any, Protocol

from marketguard.models import Flag, Listing, Severity
from matching.catalogue import Category
from matching.context import EMPTY_CONTEXT, MatchContext, listing_brand
from matching.text import fold_width, needs_folding

if TYPE_CHECKING:
    from matching.rules.ccc_certificate import CccFacts, CccScanner

SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low")

# China has one time zone and no daylight saving, so a fixed offset is exact and needs no tz
# database (no file I/O inside match()).
_CHINA_OFFSET = timedelta(hours=8)
CHINA_TIME = timezone(_CHINA_OFFSET)

_UNSET = object()  # a lazily computed ListingView value not worked out yet (None is a value)


@dataclass(frozen=True, slots=True)
class RuleText:
    """A rule's id, severity and the texts an officer reads, from rules.yaml."""

    rule_id: str
    severity: Severity
    reason: str  # str.format template; placeholders are checked when rules.yaml loads
    reason_en: str
    legal_basis: str

    def flag(
        self, *, snippet: str, field: str, en: dict[str, Any] | None = None, **values: Any
    ) -> Flag:
        """A Flag with the reasons filled in; ``en`` overrides values for the English text."""
        return Flag(
            rule_id=self.rule_id,
            severity=self.severity,
            # format_map: the same text as format(**values), without copying the values again
            reason=self.reason.format_map(values),
            legal_basis=self.legal_basis,
            snippet=snippet,
            field=field,
            reason_en=self.reason_en.format_map(values | en if en else values),
        )


class ListingView:
    """One listing prepared once for all rules: width-folded text, category, crawl date, and the
    MatchContext the caller passed in (registry, peers, sellers, images).

    The listing itself is only read, never written.
    """

    __slots__ = (
        "_brand",
        "_crawl_date",
        "_price",
        "_text_fields",
        "_values_f",
        "attributes",
        "cache",
        "category",
        "ccc_facts",
        "context",
        "description",
        "description_f",
        "flags",
        "listing",
        "title",
        "title_f",
    )

    def __init__(
        self,
        listing: Listing,
        category: Category | None,
        title: str,
        title_f: str,
        context: MatchContext = EMPTY_CONTEXT,
    ) -> None:
        self.listing = listing
        self.context = context
        self.category = category
        self.title = title
        self.title_f = title_f
        description = listing.description
        self.description = description if isinstance(description, str) else ""
        self.description_f = fold_width(self.description)
        # (key, folded key, value, folded value), values as the page showed them
        self.attributes = _attribute_texts(listing.attributes)
        self._crawl_date: date | None = None
        self._brand: str | None = None
        self._price: Decimal | object | None = _UNSET
        self.flags: list[Flag] = []  # flags raised so far, for rules that weigh other signals
        self.ccc_facts: CccFacts | None = None  # filled once by the CCC scanner
        self._text_fields: tuple[tuple[str, str, str], ...] | None = None
        self._values_f: str | None = None
        # Derived texts several rules read (e.g. fertilizer fields), made once per listing.
        self.cache: dict[str, Any] = {}

    @property
    def crawl_date(self) -> date:
        """The day the listing was seen, in China; worked out only if a rule asks."""
        if self._crawl_date is None:
            self._crawl_date = crawl_day(self.listing.crawled_at)
        return self._crawl_date

    @property
    def text_fields(self) -> tuple[tuple[str, str, str], ...]:
        """(field, text, width-folded text) for the title, the description and the text read
        from each image (field "image:<url>"), in that order."""
        if self._text_fields is None:
            fields = [
                ("title", self.title, self.title_f),
                ("description", self.description, self.description_f),
            ]
            for image in self.context.images:
                text = image.ocr_text
                if isinstance(text, str) and text:
                    fields.append((f"image:{image.url}", text, fold_width(text)))
            self._text_fields = tuple(fields)
        return self._text_fields

    @property
    def attribute_values_f(self) -> str:
        """Every folded attribute value in one text, NUL-separated: one scan instead of one per
        value (no rule's word or pattern matches a NUL, so nothing runs from one value into
        the next)."""
        if self._values_f is None:
            self._values_f = "\0".join(a[3] for a in self.attributes)
        return self._values_f

    def attribute(self, keys: frozenset[str]) -> tuple[str, str] | None:
        """The first (key, value) whose folded key is in ``keys`` and whose value is not empty."""
        for key, key_f, value, _ in self.attributes:
            if key_f in keys and value.strip():
                return key, value
        return None

    @property
    def brand(self) -> str:
        """The brand as the listing gives it (Listing.brand, else a 品牌 attribute); worked out
        once, as several rules read it."""
        if self._brand is None:
            self._brand = listing_brand(self.listing)
        return self._brand

    @property
    def price(self) -> Decimal | None:
        """The price as a finite Decimal, None when missing or not a number; parsed once, as
        the price rules all read it."""
        if self._price is _UNSET:
            self._price = as_decimal(self.listing.price)
        return self._price  # type: ignore[return-value]


def as_decimal(value: Any) -> Decimal | None:
    """A price as a finite Decimal, or None when it is missing or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _attribute_texts(attributes: Any) -> tuple[tuple[str, str, str, str], ...]:
    if not isinstance(attributes, dict) or not attributes:
        return ()
    pairs = [
        (k if type(k) is str else str(k), v if type(v) is str else "" if v is None else str(v))
        for k, v in attributes.items()
    ]
    # One check for the whole table: attribute tables are rarely written full-width.
    if not needs_folding("".join(chain.from_iterable(pairs))):
        return tuple((k, k, v, v) for k, v in pairs)
    return tuple((k, fold_width(k), v, fold_width(v)) for k, v in pairs)


def crawl_day(moment: Any) -> date:
    """The calendar day in China when the listing was seen (CCC dates are Chinese dates)."""
    if isinstance(moment, datetime):
        tz = moment.tzinfo
        if tz is None or tz is UTC:  # marketguard.models reads naive times as UTC; so do we
            # The usual case, as plain arithmetic: astimezone() costs more than the rest of
            # many a rule.
            return (moment.replace(tzinfo=None) + _CHINA_OFFSET).date()
        return moment.astimezone(CHINA_TIME).date()
    if isinstance(moment, date):
        return moment
    return datetime.now(CHINA_TIME).date()


class Rule(Protocol):
    rule_id: str

    def check(self, ctx: ListingView) -> Flag | None: ...


# A rule may also offer ``applies_to(category: Category | None) -> bool``: False promises that
# check() returns None for every listing of that category (None: no category), so the engine
# leaves the rule out for those listings before any text work. Likewise
# ``applies_with(context: MatchContext) -> bool``: False promises None for every listing matched
# with that context (the registry, peer prices or images it needs are missing). check() keeps
# its own guards.


@dataclass(frozen=True, slots=True)
class Shared:
    """What rule builders may need beyond their own YAML block."""

    scanner: CccScanner
    rule_ids: frozenset[str]
