"""Text rules: listings matched per second on one core (goal >= 20 000/s).

Three engines over the same demo-like listings (matching.benchmark.sample_listings), in the same
run: the full rule book with a pass-like MatchContext (peer prices, a certificate registry,
seller links), the full rule book without context, and as the baseline the engine with only the
five session-1 rules enabled (the issue-4 rules switched off in a copy of rules.yaml). CPU time
(one core, one process), best chunk and whole run; the ratio to the baseline is the figure that
survives a busy machine.
"""

from __future__ import annotations

import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

import yaml

from bench.common import save
from marketguard.models import Listing
from matching.benchmark import sample_listings
from matching.context import CertificateRecord, CertificateRegistry, MatchContext
from matching.engine import Matcher
from matching.rule_book import DEFAULT_RULES_PATH

BASELINE_RULES = (
    "CCC_MISSING",
    "CCC_NUMBER_INVALID",
    "COUNTERFEIT_WORDING",
    "PRICE_TOO_LOW",
    "SELLER_RISK",
)


def _baseline_matcher(tmp: Path) -> Matcher:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    for rule in data["rules"]:
        if rule["id"] not in BASELINE_RULES:
            rule["enabled"] = False
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return Matcher.load(rules_path=path)


def _context(matcher: Matcher, listings: list[Listing]) -> MatchContext:
    from marketguard.match_context import batch_context

    registry = CertificateRegistry(
        CertificateRecord(f"2023{n:012d}", "某公司", "电源适配器") for n in range(50_000)
    )
    shared, _ = batch_context(matcher, listings, base=MatchContext(registry=registry))
    return shared


def _rate(
    matcher: Matcher,
    listings: list[Listing],
    context: MatchContext | None,
    chunk: int = 500,
    repeat: int = 3,
) -> dict[str, float]:
    match = matcher.match
    for listing in listings[:chunk]:
        match(listing, context)  # warm up (caches, first-use imports)
    best_chunk = float("inf")
    best_run = float("inf")
    for _ in range(repeat):
        run = 0.0
        for start in range(0, len(listings), chunk):
            part = listings[start : start + chunk]
            cpu = time.process_time()
            for listing in part:
                match(listing, context)
            spent = time.process_time() - cpu
            run += spent
            best_chunk = min(best_chunk, spent / len(part))
        best_run = min(best_run, run)
    return {
        "listings_per_s_run": round(len(listings) / best_run),
        "listings_per_s_best_chunk": round(1 / best_chunk),
    }


def run(listings: int = 20_000) -> dict[str, Any]:
    items = sample_listings(listings)
    full = Matcher.load()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = _baseline_matcher(Path(tmp))
    context = _context(full, items)
    calibration = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    result: dict[str, Any] = {
        "listings": listings,
        "rules_full": len(full.rules.rule_ids),
        "rules_baseline": len(baseline.rules.rule_ids),
        "calibration_sum_range_1000_us": round(calibration, 1),
        "baseline_session1_rules": _rate(baseline, items, None),
        "full_rules_no_context": _rate(full, items, None),
        "full_rules_pass_context": _rate(full, items, context),
        "goal_listings_per_s": 20_000,
    }
    base = result["baseline_session1_rules"]["listings_per_s_run"]
    result["ratio_full_context_to_baseline"] = round(
        result["full_rules_pass_context"]["listings_per_s_run"] / base, 3
    )
    save("text_rules", result)
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"text rules, {result['listings']} listings, one core (CPU time); calibration "
        f"sum(range(1000)) = {result['calibration_sum_range_1000_us']} us (quiet core: ~10 us)",
    ]
    for key, name in (
        ("baseline_session1_rules", f"baseline ({result['rules_baseline']} session-1 rules)"),
        ("full_rules_no_context", f"all {result['rules_full']} rules, no context"),
        ("full_rules_pass_context", f"all {result['rules_full']} rules, pass context"),
    ):
        r = result[key]
        lines.append(
            f"  {name:<34} {r['listings_per_s_run']:>8,}/s whole run, "
            f"{r['listings_per_s_best_chunk']:>8,}/s best chunk"
        )
    lines.append(
        f"  ratio all rules with context / baseline: {result['ratio_full_context_to_baseline']}"
        f" (goal {result['goal_listings_per_s']:,}/s)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
