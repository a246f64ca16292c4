"""The matching engine: one listing in, its catalogue category and explained flags out.

Pure by design: ``Matcher.load`` reads the YAML files once; ``match`` and ``categorize`` do no
file or network I/O, keep no state between calls that could change a result (only caches of
what is derived from the rules and the context) and never write to the listing (the caller
copies ``result.category`` onto it if it wants to).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from marketguard.models import SEVERITY_ORDER, Flag, Listing
from matching.catalogue import Catalogue, Category, load_catalogue
from matching.context import EMPTY_CONTEXT, MatchContext
from matching.input_checks import input_warnings
from matching.risk import NO_RISK, RiskScore
from matching.rule_book import RuleBook, load_rules
from matching.rules.base import ListingView, Rule
from matching.text import WordFinder, fold_width, word_key


@dataclass(slots=True)
class MatchResult:
    category: str  # catalogue category id, "" when no category fits
    flags: list[Flag] = field(default_factory=list)  # most severe first
    risk: RiskScore = NO_RISK  # the flags combined into 0-100, explained
    # Input the rules could not read as given (a negative or absurd price, a title that is not
    # text): said plainly instead of crashing or flagging; the pass records them.
    warnings: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def severity(self) -> str:
        """The highest severity among the flags, "" when there are none."""
        return self.flags[0].severity if self.flags else ""


_Checks = tuple[Callable[[ListingView], Flag | None], ...]


class Matcher:
    def __init__(self, catalogue: Catalogue, rules: RuleBook) -> None:
        self.catalogue = catalogue
        self.rules = rules
        self._rules: tuple[Rule, ...] = rules.rules
        # The rules that can fire per category (key None: no category), in rule-book order.
        # Most listings fall in a category that half the rules (fertilizer, pesticide, maker
        # info, child seats ...) never apply to: not calling those at all is the cheapest check.
        self._rules_for: dict[str | None, tuple[Rule, ...]] = {
            (c.id if c else None): tuple(r for r in self._rules if _applies(r, c))
            for c in (None, *catalogue.categories)
        }
        # Rules that need a part of the MatchContext (registry, peer prices, images ...) are
        # left out the same way when it is missing: a text-only pass has none of those.
        self._context_gated = tuple(r for r in self._rules if hasattr(r, "applies_with"))
        # Per context shape (which of those rules apply): per category, the check methods,
        # bound once rather than looked up per rule per listing.
        self._checks_by_shape: dict[tuple[bool, ...], dict[str | None, _Checks]] = {}
        # The last context seen and its shape, as one tuple (read and replaced atomically):
        # a pass usually hands the same context to every listing.
        self._last_shape: tuple[MatchContext | None, tuple[bool, ...]] = (None, ())
        self._risk = rules.risk
        self._unflagged = RiskScore(0, rules.risk.default_threshold)
        self._keywords = WordFinder({kw: c for c in catalogue.categories for kw in c.keywords})
        vetoes: dict[str, frozenset[str]] = {}
        for category in catalogue.categories:
            for phrase in category.exclude_keywords:
                key = word_key(phrase)
                vetoes[key] = vetoes.get(key, frozenset()) | {category.id}
        self._vetoes = WordFinder(vetoes)
        self._by_search_term = {
            word_key(term).strip(): category
            for category in catalogue.categories
            for term in category.search_terms
        }

    @classmethod
    def load(cls, catalogue_path: Path | None = None, rules_path: Path | None = None) -> Matcher:
        """Read and validate both data files (defaults: the bundled ones in matching/data/)."""
        return cls(load_catalogue(catalogue_path), load_rules(rules_path))

    def categorize(self, listing: Listing) -> Category | None:
        return self._categorize(fold_width(_text(listing.title)), _text(listing.search_keyword))

    def match(self, listing: Listing, context: MatchContext | None = None) -> MatchResult:
        """Flags for one listing. ``context`` carries what the rules may know beyond it
        (certificate registry, peer prices, repeat offenders, seller links, image signals);
        without it the rules needing that data stay silent."""
        title = _text(listing.title)
        title_f = fold_width(title)
        category = self._categorize(title_f, _text(listing.search_keyword))
        context = context or EMPTY_CONTEXT
        ctx = ListingView(listing, category, title, title_f, context)
        flags = ctx.flags
        for check in self._checks(context)[category.id if category else None]:
            flag = check(ctx)
            if flag is not None:
                flags.append(flag)
        if len(flags) > 1:
            flags.sort(key=lambda f: -SEVERITY_ORDER.get(f.severity, 0))  # stable: rule order
        return MatchResult(
            category=category.id if category else "",
            flags=flags,
            risk=self._risk.score(flags, category) if flags else self._no_risk(category),
            warnings=input_warnings(listing),
        )

    def _checks(self, context: MatchContext) -> dict[str | None, _Checks]:
        last = self._last_shape
        if last[0] is context:
            shape = last[1]
        else:
            shape = tuple(bool(r.applies_with(context)) for r in self._context_gated)  # type: ignore
            self._last_shape = (context, shape)
        table = self._checks_by_shape.get(shape)
        if table is None:
            left_out = {id(r) for r, ok in zip(self._context_gated, shape, strict=True) if not ok}
            table = {
                key: tuple(r.check for r in rules if id(r) not in left_out)
                for key, rules in self._rules_for.items()
            }
            self._checks_by_shape[shape] = table
        return table

    def _no_risk(self, category: Category | None) -> RiskScore:
        if category is None or category.risk_threshold is None:
            return self._unflagged
        return RiskScore(0, category.risk_threshold)

    def _categorize(self, title_f: str, search_keyword: str) -> Category | None:
        """The category whose title keyword comes first in the title (the longest keyword at
        that position); else the category whose search term found the listing. A category whose
        exclude_keywords phrase is in the title is skipped either way."""
        vetoed: frozenset[str] = frozenset()
        if self._vetoes:
            for hit in self._vetoes.finditer(title_f):
                vetoed |= hit.value
        for hit in self._keywords.finditer(title_f):
            if hit.value.id not in vetoed:
                return hit.value
        category = self._by_search_term.get(word_key(search_keyword).strip())
        if category is not None and category.id not in vetoed:
            return category
        return None


def _applies(rule: Rule, category: Category | None) -> bool:
    applies_to = getattr(rule, "applies_to", None)
    return applies_to is None or bool(applies_to(category))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
