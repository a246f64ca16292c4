"""`make eval`: the runner counts true/false positives per rule and prints a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketguard.eval_set import load_eval_registry, load_eval_set
from marketguard.evaluate import demo_labelled, evaluate, main
from matching import Matcher

SET = """
crawled_at: "2026-11-20T02:00:00+00:00"
listings:
  - id: t-001
    expected_rules: [COUNTERFEIT_WORDING, CCC_MISSING]
    listing: {platform: tb, listing_id: "1", url: "https://x/1", title: 高仿 65W 充电器}
  - id: t-002
    expected_rules: []
    listing:
      platform: tb
      listing_id: "2"
      url: https://x/2
      title: 65W 充电器
      attributes: {3C证书编号: "2023010907123456"}
  - id: t-003
    expected_rules: [PRICE_TOO_LOW]
    listing: {platform: tb, listing_id: "3", url: "https://x/3", title: 纯棉T恤}
"""


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


def test_tallies_on_a_small_labelled_set(tmp_path: Path, matcher: Matcher) -> None:
    (tmp_path / "set.yaml").write_text(SET, encoding="utf-8")
    (tmp_path / "registry.csv").write_text(
        "number,holder,product,models,status\n2023010907123456,甲,电源适配器,,valid\n",
        encoding="utf-8",
    )
    items = load_eval_set(tmp_path)
    registry = load_eval_registry(tmp_path)
    assert registry is not None and len(registry) == 1
    tallies = evaluate(matcher, items, matcher.rules.rule_ids, {tmp_path.name: registry})
    assert (tallies["COUNTERFEIT_WORDING"].tp, tallies["COUNTERFEIT_WORDING"].fp) == (1, 0)
    assert (tallies["CCC_MISSING"].tp, tallies["CCC_MISSING"].fn) == (1, 0)
    assert tallies["PRICE_TOO_LOW"].fn == 1  # a T-shirt without price: missed, counted
    assert tallies["CCC_CERT_NOT_FOUND"].fp == 0  # the number is in the set's registry
    assert tallies["ALL"].precision == 1.0 and tallies["ALL"].recall == 2 / 3
    assert (tallies["LISTINGS"].tp, tallies["LISTINGS"].fn) == (1, 1)


def test_demo_ground_truth_is_met(matcher: Matcher) -> None:
    items = demo_labelled(seed=5, listings=60)
    tallies = evaluate(matcher, items, matcher.rules.rule_ids)
    assert tallies["ALL"].fp == 0 and tallies["ALL"].fn == 0 and tallies["ALL"].tp > 10


def test_main_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "set.yaml").write_text(SET, encoding="utf-8")
    assert main(["--demo-listings", "30", "--eval-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "COUNTERFEIT_WORDING" in out and "hand-labelled set" in out
