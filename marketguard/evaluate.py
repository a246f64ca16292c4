"""`make eval`: precision and recall of the matching rules on labelled listings.

    python -m marketguard.evaluate [--demo-listings N] [--seed S] [--eval-dir tests/eval]
                                   [--holdout-dir tests/eval/holdout]

Two labelled sources: the demo shop's ground truth (generated, so it measures the engine against
the patterns the demo plants) and the hand-labelled set in tests/eval/ (written apart from the
engine, from the domain notes; its format is described in tests/eval/README.md). Every listing
is matched with a MatchContext built the way a pass builds it: peer prices from the same batch,
seller links from the shops in the batch, the certificate registry and repeat offenders when the
set provides them.

The holdout set (tests/eval/holdout/, same format) was written blind after the rules had been
tuned on the hand-labelled set. It is reported in its own section and kept out of "all sets
together", so its figure stays the one number nobody tuned on. Never change a rule because of
it; whoever does must write a new holdout (tests/eval/holdout/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from marketguard.models import Listing, Seller
from matching.context import CertificateRegistry, MatchContext
from matching.engine import Matcher

CHINA_TZ = timezone(timedelta(hours=8))
DEFAULT_EVAL_DIR = Path(__file__).resolve().parent.parent / "tests" / "eval"


@dataclass(slots=True)
class Labelled:
    listing: Listing
    expected: frozenset[str]  # rule ids the listing violates
    source: str  # "demo" or the eval file name
    # Rule ids whose result is not counted for this listing (the labeller could not tell).
    ignore: frozenset[str] = frozenset()


@dataclass(slots=True)
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    examples_fp: list[str] = field(default_factory=list)
    examples_fn: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def demo_labelled(seed: int = 11, listings: int = 300) -> list[Labelled]:
    """The demo shop's listings as the spider reads them, with the generator's ground truth."""
    from demo.generator import generate

    market = generate(seed=seed, listings=listings)
    crawled = datetime.now(CHINA_TZ)
    out: list[Labelled] = []
    for item in market.listings:
        if item.fault in ("http_500", "broken_html"):
            continue  # never read by the spider
        shop = market.shop(item.shop_id)
        seller = None
        if shop is not None:
            seller = Seller(
                seller_id=shop.shop_id,
                name=shop.name,
                location=shop.location,
                rating=shop.rating,
                shop_age_days=shop.age_days(crawled.date()),
            )
        listing = Listing(
            platform="demo",
            listing_id=item.listing_id,
            url=f"http://127.0.0.1/item/{item.listing_id}",
            title=item.title,
            price=item.price,
            seller=seller,
            image_urls=[f"http://127.0.0.1/img/{name}" for name in item.images],
            attributes=dict(market.attributes(item)),
            description=market.description(item),
            crawled_at=crawled,
            search_keyword=item.category.search_terms[0],
            sales=item.sales,
        )
        out.append(Labelled(listing, frozenset(item.rules), "demo"))
    return out


def evaluate(
    matcher: Matcher,
    labelled: Iterable[Labelled],
    rule_ids: Iterable[str],
    registries: dict[str, CertificateRegistry] | None = None,
) -> dict[str, Tally]:
    """Per-rule tallies, "ALL" (every (listing, rule) decision pooled) and "LISTINGS" (a
    listing expected to violate something against "any flag fired")."""
    from marketguard.match_context import batch_context

    items = list(labelled)
    by_source: dict[str, list[Labelled]] = {}
    for item in items:
        by_source.setdefault(item.source, []).append(item)
    tallies: dict[str, Tally] = {rule_id: Tally() for rule_id in rule_ids}
    overall = Tally()
    listings = Tally()
    for source, source_items in by_source.items():
        # Peers and seller links come from the listing's own set, as from one pass.
        registry = (registries or {}).get(source)
        base, per_listing = batch_context(
            matcher, [x.listing for x in source_items], base=MatchContext(registry=registry)
        )
        for item in source_items:
            result = matcher.match(item.listing, per_listing(item.listing, base))
            found = {flag.rule_id for flag in result.flags}
            counted = found - item.ignore
            tag = f"{item.source}:{item.listing.listing_id}"
            if counted and item.expected:
                listings.tp += 1
            elif counted:
                listings.fp += 1
                listings.examples_fp.append(tag)
            elif item.expected:
                listings.fn += 1
                listings.examples_fn.append(tag)
            for rule_id, tally in tallies.items():
                if rule_id in item.ignore:
                    continue
                got, want = rule_id in found, rule_id in item.expected
                tag = f"{item.source}:{item.listing.listing_id}"
                for t in (tally, overall):
                    if got and want:
                        t.tp += 1
                    elif got:
                        t.fp += 1
                        if len(t.examples_fp) < 5:
                            t.examples_fp.append(f"{tag} {rule_id}")
                    elif want:
                        t.fn += 1
                        if len(t.examples_fn) < 5:
                            t.examples_fn.append(f"{tag} {rule_id}")
    tallies["ALL"] = overall
    tallies["LISTINGS"] = listings
    return tallies


def _pct(value: float | None) -> str:
    return "   —  " if value is None else f"{value * 100:5.1f}%"


def table(title: str, tallies: dict[str, Tally]) -> str:
    lines = [title, f"{'rule':<30} {'TP':>5} {'FP':>5} {'FN':>5}  precision  recall"]
    for rule_id, t in tallies.items():
        if rule_id not in ("ALL", "LISTINGS") and not (t.tp or t.fp or t.fn):
            continue
        lines.append(
            f"{rule_id:<30} {t.tp:>5} {t.fp:>5} {t.fn:>5}    {_pct(t.precision)}   {_pct(t.recall)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-listings", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    parser.add_argument("--holdout-dir", type=Path, default=DEFAULT_EVAL_DIR / "holdout")
    parser.add_argument("--json", action="store_true", help="print the tallies as JSON")
    parser.add_argument("--examples", action="store_true", help="list a few misses per rule")
    args = parser.parse_args(argv)
    from marketguard.eval_set import load_eval_registry, load_eval_set

    matcher = Matcher.load()
    rule_ids = list(matcher.rules.rule_ids)
    sets: list[tuple[str, list[Labelled]]] = [
        ("demo ground truth", demo_labelled(args.seed, args.demo_listings))
    ]
    registries: dict[str, CertificateRegistry] = {}
    try:
        hand = load_eval_set(args.eval_dir)
    except FileNotFoundError as exc:
        print(f"hand-labelled set not found: {exc}", file=sys.stderr)
        hand = []
    if hand:
        sets.append((f"hand-labelled set ({args.eval_dir})", hand))
        registry = load_eval_registry(args.eval_dir)
        if registry is not None:
            registries[args.eval_dir.name] = registry
    sets.append(("all sets together", [x for _, items in sets for x in items]))
    try:
        holdout = load_eval_set(args.holdout_dir)
    except FileNotFoundError as exc:
        print(f"holdout set not found: {exc}", file=sys.stderr)
        holdout = []
    if holdout:
        # Listings carry their directory's name as source; registries are looked up by it.
        sets.append((f"HOLDOUT, never tune on it ({args.holdout_dir})", holdout))
        registry = load_eval_registry(args.holdout_dir)
        if registry is not None:
            registries[args.holdout_dir.name] = registry
    report: dict[str, Any] = {}
    for name, items in sets:
        tallies = evaluate(matcher, items, rule_ids, registries)
        report[name] = {
            k: {"tp": t.tp, "fp": t.fp, "fn": t.fn, "precision": t.precision, "recall": t.recall}
            for k, t in tallies.items()
        }
        if not args.json:
            print(table(f"\n== {name}: {len(items)} listings ==", tallies))
            if args.examples:
                for rule_id, t in tallies.items():
                    if t.examples_fp or t.examples_fn:
                        print(f"  {rule_id}: FP {t.examples_fp} FN {t.examples_fn}")
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
