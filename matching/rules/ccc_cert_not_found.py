"""CCC_CERT_NOT_FOUND: a well-formed certificate number the imported registry does not hold.

Silent without a registry (``marketguard registry import FILE.csv``). A registry is a snapshot:
a certificate issued after the import is "not found" until the next import, hence medium.
"""

from __future__ import annotations

from marketguard.models import Flag
from matching.context import MatchContext
from matching.rules.base import ListingView, RuleText, Shared
from matching.rules.ccc_certificate import CccScanner
from matching.rules.ccc_registry import registry_hits
from matching.yaml_schema import Node

RULE_ID = "CCC_CERT_NOT_FOUND"
PARAMS_REQUIRED: tuple[str, ...] = ()
PARAMS_OPTIONAL: tuple[str, ...] = ()
PLACEHOLDERS = ("number", "registry_size")


class CccCertNotFoundRule:
    rule_id = RULE_ID

    def __init__(self, text: RuleText, scanner: CccScanner) -> None:
        self.text = text
        self.scanner = scanner

    def applies_with(self, context: MatchContext) -> bool:
        return bool(context.registry)

    def check(self, ctx: ListingView) -> Flag | None:
        for number, record in registry_hits(ctx, self.scanner):
            if record is None:
                return self.text.flag(
                    snippet=number.text,
                    field=number.field,
                    number=number.text,
                    registry_size=len(ctx.context.registry or ()),
                )
        return None


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> CccCertNotFoundRule:
    return CccCertNotFoundRule(text, shared.scanner)
