"""CCC_CERT_STATUS: the claimed certificate is suspended, revoked, cancelled or expired.

The status is the registry's on the crawl day: a "valid" certificate past its expiry date
counts as expired. Which statuses flag comes from rules.yaml.
"""

from __future__ import annotations

from marketguard.models import Flag
from matching.context import CERTIFICATE_STATUSES, MatchContext
from matching.rules.base import ListingView, RuleText, Shared
from matching.rules.ccc_certificate import CccScanner
from matching.rules.ccc_registry import registry_hits
from matching.yaml_schema import Node

RULE_ID = "CCC_CERT_STATUS"
PARAMS_REQUIRED = ("statuses",)
PARAMS_OPTIONAL: tuple[str, ...] = ()
PLACEHOLDERS = ("number", "status", "holder")


class CccCertStatusRule:
    rule_id = RULE_ID

    def __init__(
        self, text: RuleText, scanner: CccScanner, statuses: dict[str, tuple[str, str]]
    ) -> None:
        self.text = text
        self.scanner = scanner
        self.statuses = statuses

    def applies_with(self, context: MatchContext) -> bool:
        return bool(context.registry)

    def check(self, ctx: ListingView) -> Flag | None:
        day = ctx.crawl_date
        for number, record in registry_hits(ctx, self.scanner):
            if record is None:
                continue
            status = record.status_on(day)
            words = self.statuses.get(status)
            if words is not None:
                return self.text.flag(
                    snippet=number.text,
                    field=number.field,
                    number=number.text,
                    status=words[0],
                    holder=record.holder,
                    en={"status": words[1]},
                )
        return None


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> CccCertStatusRule:
    node = fields["statuses"]
    statuses: dict[str, tuple[str, str]] = {}
    for status, item in node.fields(optional=CERTIFICATE_STATUSES).items():
        pair = item.fields(required=("zh", "en"))
        statuses[status] = (pair["zh"].text(), pair["en"].text())
    if "valid" in statuses:
        node.child("valid").fail("a valid certificate cannot be a finding")
    return CccCertStatusRule(text, shared.scanner, statuses)
