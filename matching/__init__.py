"""Pure matching: a Listing in, its catalogue category and explained Flags out.

    from matching import Matcher
    matcher = Matcher.load()            # bundled catalogue.yaml and rules.yaml
    result = matcher.match(listing)     # MatchResult(category="charger", flags=[Flag, ...])

Nothing here imports crawlers/, evidence/ or api/, and match() does no I/O.
"""

from matching.catalogue import (
    Catalogue,
    Category,
    PriceBand,
    load_catalogue,
    watched_search_terms,
)
from matching.engine import Matcher, MatchResult
from matching.rule_book import RuleBook, load_rules
from matching.yaml_schema import CatalogueError, DataFileError, RulesError

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Category",
    "DataFileError",
    "MatchResult",
    "Matcher",
    "PriceBand",
    "RuleBook",
    "RulesError",
    "load_catalogue",
    "load_rules",
    "watched_search_terms",
]
