"""Load rules.yaml: every rule's severity, officer texts, legal basis, thresholds and word lists.

The file is checked in full on load (unknown fields, wrong types, unknown {placeholders} in
reason templates, missing rules), so a typo fails at start-up with ``RulesError`` naming the file
and the field, not halfway through a monitoring pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from matching.risk import RiskModel, load_risk
from matching.rules import RULE_IDS, RULE_MODULES
from matching.rules.base import SEVERITIES, Rule, RuleText, Shared
from matching.rules.ccc_certificate import CccScanner
from matching.yaml_schema import Node, RulesError, load_yaml

DEFAULT_RULES_PATH = Path(__file__).resolve().parent / "data" / "rules.yaml"

_COMMON_REQUIRED = ("id", "severity", "reason", "reason_en", "legal_basis")
_COMMON_OPTIONAL = ("enabled",)


@dataclass(frozen=True, slots=True)
class RuleBook:
    version: int
    rules: tuple[Rule, ...]  # enabled rules, in run order
    source: str = ""
    risk: RiskModel = field(default_factory=RiskModel)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(rule.rule_id for rule in self.rules)


def load_rules(path: Path | None = None) -> RuleBook:
    """Load and validate a rules file (default: the bundled matching/data/rules.yaml)."""
    source = path or DEFAULT_RULES_PATH
    root = load_yaml(source, RulesError)
    top = root.fields(required=("version", "ccc_text", "rules"), optional=("risk",))
    version = top["version"].integer(minimum=1)
    shared = Shared(scanner=CccScanner.from_yaml(top["ccc_text"]), rule_ids=frozenset(RULE_IDS))
    modules = {module.RULE_ID: module for module in RULE_MODULES}
    built: dict[str, Rule | None] = {}
    for item in top["rules"].items(non_empty=True):
        raw_id = item.value.get("id") if isinstance(item.value, dict) else None
        if isinstance(raw_id, str):
            item = Node(item.value, item.file, item.path, item.error, f"rule {raw_id}")
        if not isinstance(raw_id, str) or raw_id not in modules:
            where = (
                item.child("id") if isinstance(item.value, dict) and "id" in item.value else item
            )
            where.fail(f"unknown rule id {raw_id!r} (known: {', '.join(RULE_IDS)})")
        if raw_id in built:
            item.child("id").fail(f"rule {raw_id} is defined twice")
        module = modules[raw_id]
        fields = item.fields(
            required=_COMMON_REQUIRED + module.PARAMS_REQUIRED,
            optional=_COMMON_OPTIONAL + module.PARAMS_OPTIONAL,
        )
        text = RuleText(
            rule_id=raw_id,
            severity=fields["severity"].choice(SEVERITIES),  # type: ignore[arg-type]
            reason=fields["reason"].template(module.PLACEHOLDERS),
            reason_en=fields["reason_en"].template(module.PLACEHOLDERS),
            legal_basis=fields["legal_basis"].text(),
        )
        rule = module.build(fields, text, shared)
        enabled = fields["enabled"].boolean() if "enabled" in fields else True
        built[raw_id] = rule if enabled else None
    missing = [rule_id for rule_id in RULE_IDS if rule_id not in built]
    if missing:
        top["rules"].fail(
            f"missing rule(s) {', '.join(missing)}; "
            "keep every rule and write enabled: false to switch one off"
        )
    rules = tuple(rule for rule_id in RULE_IDS if (rule := built[rule_id]) is not None)
    risk = load_risk(top.get("risk"), frozenset(RULE_IDS))
    return RuleBook(version=version, rules=rules, source=str(source), risk=risk)
