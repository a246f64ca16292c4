"""rules.yaml: the bundled file loads, and every kind of mistake stops the load clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from matching.engine import Matcher
from matching.rule_book import DEFAULT_RULES_PATH, load_rules
from matching.rules import RULE_IDS
from matching.yaml_schema import RulesError


def bundled() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))


def rule(data: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in data["rules"] if r["id"] == rule_id)


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_bundled_rules_load_in_run_order() -> None:
    book = load_rules()
    assert book.rule_ids == RULE_IDS
    assert book.rule_ids[-1] == "COUNTERFEIT_WORDING"  # weighs the other rules' flags
    # The ids fixed for the evaluation set, the engine and the workspace (issue 4).
    assert {
        "CCC_MISSING",
        "CCC_NUMBER_INVALID",
        "CCC_FALSE_CLAIM",
        "CCC_ABOLISHED_MARK",
        "CCC_CERT_NOT_FOUND",
        "CCC_CERT_STATUS",
        "CCC_CERT_MISMATCH",
        "BRAND_LOOKALIKE",
        "MAKER_INFO_MISSING",
        "FERTILIZER_LICENCE_MISSING",
        "FERTILIZER_NUTRIENT_MISMATCH",
        "FERTILIZER_BANNED_WORDING",
        "PESTICIDE_REG_INVALID",
        "CHILD_SEAT_CUSHION",
        "COUNTERFEIT_WORDING",
        "PRICE_TOO_LOW",
        "PRICE_OUTLIER_PEERS",
        "SELLER_RISK",
        "SELLER_NO_LICENCE",
        "SELLER_HOTSPOT_REGION",
        "SELLER_REPEAT_OFFENDER",
        "SELLER_NETWORK",
    } <= set(RULE_IDS)


def test_every_rule_carries_officer_texts_and_a_legal_basis() -> None:
    for entry in bundled()["rules"]:
        assert entry["severity"] in {"high", "medium", "low"}
        assert entry["reason"].strip() and entry["reason_en"].strip()
        assert entry["legal_basis"].startswith("《")
    texts = {r["id"]: r["legal_basis"] for r in bundled()["rules"]}
    assert "《认证认可条例》第二十七条、第六十六条" in texts["CCC_MISSING"]
    assert "《电子商务法》第二十九条" in texts["CCC_MISSING"]
    assert "《产品质量法》第五条" in texts["COUNTERFEIT_WORDING"]


def test_a_rule_can_be_switched_off(tmp_path: Path) -> None:
    data = bundled()
    rule(data, "SELLER_RISK")["enabled"] = False
    book = load_rules(write(tmp_path, data))
    assert "SELLER_RISK" not in book.rule_ids
    assert len(book.rule_ids) == len(RULE_IDS) - 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: rule(d, "PRICE_TOO_LOW").update(factor="0.4x"),
            "rules.yaml: rules[3].factor: expected a number, got '0.4x' (rule PRICE_TOO_LOW)",
        ),
        (
            lambda d: rule(d, "PRICE_TOO_LOW").update(factor=4),
            "rules[3].factor: expected a number above 0 and at most 1, got 4",
        ),
        (
            lambda d: rule(d, "CCC_MISSING").update(reason="缺少3C：{categry_name}"),
            "rules[0].reason: unknown placeholder {categry_name} "
            "(known: {category_id}, {category_name}, {ccc_since})",
        ),
        (
            lambda d: rule(d, "SELLER_RISK").update(severity="urgent"),
            "rules[4].severity: expected one of high, medium, low, got 'urgent'",
        ),
        (
            lambda d: rule(d, "SELLER_RISK").update(min_rating=None),
            "rules[4].min_rating: expected a number, got None",
        ),
        (
            lambda d: rule(d, "SELLER_RISK").pop("max_shop_age_days"),
            "rules[4].max_shop_age_days: missing required field (rule SELLER_RISK)",
        ),
        (
            lambda d: rule(d, "SELLER_RISK").update(max_age=30),
            "rules[4]: unknown field 'max_age'",
        ),
        (
            lambda d: d["rules"].pop(1),
            "rules: missing rule(s) CCC_NUMBER_INVALID",
        ),
        (
            lambda d: d["rules"].insert(5, {"id": "PRICE_TOO_HIGH"}),
            "rules[5].id: unknown rule id 'PRICE_TOO_HIGH'",
        ),
        (
            lambda d: d["rules"].insert(5, dict(rule(d, "SELLER_RISK"))),
            "rules[5].id: rule SELLER_RISK is defined twice",
        ),
        (
            lambda d: rule(d, "COUNTERFEIT_WORDING")["weak"].update(corroborated_by=["PRICE_LOW"]),
            "rules[2].weak.corroborated_by[0]: unknown rule 'PRICE_LOW'",
        ),
        (
            lambda d: rule(d, "COUNTERFEIT_WORDING")["weak"]["words"].append("高仿"),
            "rules[2].weak.words: '高仿' is also a strong word",
        ),
        (
            lambda d: rule(d, "COUNTERFEIT_WORDING").update(strong_words=[]),
            "rules[2].strong_words: expected a non-empty list",
        ),
        (
            lambda d: rule(d, "COUNTERFEIT_WORDING").update(negations="拒绝"),
            "rules[2].negations: expected a list, got '拒绝'",
        ),
        (
            lambda d: rule(d, "CCC_NUMBER_INVALID")["problems"].pop("wrong_length"),
            "rules[1].problems.wrong_length: missing required field",
        ),
        (
            lambda d: rule(d, "CCC_NUMBER_INVALID")["problems"]["year_too_early"].update(
                zh="{year}年早于{crawl_year}年"
            ),
            "rules[1].problems.year_too_early.zh: unknown placeholder {crawl_year}",
        ),
        (
            lambda d: d["ccc_text"].update(min_digits="eight"),
            "ccc_text.min_digits: expected a whole number, got 'eight'",
        ),
        (lambda d: d.pop("ccc_text"), "ccc_text: missing required field"),
    ],
)
def test_broken_rules_file_names_file_and_field(tmp_path: Path, change: Any, message: str) -> None:
    data = bundled()
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_matcher_load_reports_the_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nrules: [\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"rules\.yaml: line \d+, column \d+: not valid YAML"):
        Matcher.load(rules_path=path)
