"""The image rules on the demo shop, with and without its genuine photos in the reference library.

The demo shop's honest sellers post the brand's genuine photo (trait ``genuine_photo``); some
listings post an edited copy of it instead (``image_copy_crop|brightness|recompress``). Two
monitoring passes with the image step on (``MARKETGUARD_IMAGES=1``, no capture):

- baseline: empty reference library;
- with references: every brand's genuine photo in ``refs.db``, the shops that post it as-is
  authorised.

Reported per rule: how many listings each image rule flagged, and how those fall on the demo's
image traits (edited copy, genuine photo, neither). The demo's ground truth has no IMAGE_* labels,
so the traits are the yardstick: an edited copy posted by a shop that is not authorised is what
IMAGE_OFFICIAL_REUSED is for.

    python -m bench image_refs
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import run_json, save

LISTINGS = 300
SEED = 7


def _add_references(home: Path) -> tuple[int, dict[tuple[str, int], set[str]]]:
    from demo.generator import generate
    from demo.images import _jpeg, genuine_photo
    from demo.vocabulary import words_for
    from marketguard.image_index import ReferenceLibrary

    market = generate(seed=SEED, listings=LISTINGS)
    honest: dict[tuple[str, int], set[str]] = {}
    for listing in market.listings:
        if any(name.startswith("g-") for name in listing.images):
            key = (listing.category.id, listing.brand_index)
            honest.setdefault(key, set()).add(f"demo:{listing.shop_id}")
    with ReferenceLibrary.in_home(home) as library:
        for category in {listing.category.id for listing in market.listings}:
            for index, brand in enumerate(words_for(category)["brands"]):
                library.add(brand, _jpeg(genuine_photo(category, index)), f"g-{category}-{index}")
                sellers = honest.get((category, index))
                if sellers:
                    library.authorise(brand, sellers)
        return len(library), honest


def _pass(home: Path, *, refs: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "marketguard.cli", "demo", "--no-serve", "--json"]
    cmd += ["--no-capture", "--listings", str(LISTINGS), "--seed", str(SEED), "--store", str(home)]
    # The demo loads its brands' photos itself; the baseline must start from an empty library.
    if not refs:
        cmd.append("--no-refs")
    return run_json(cmd, env={"MARKETGUARD_IMAGES": "1"})


def _image_flags(home: Path) -> Counter[tuple[str, str]]:
    from demo.generator import generate
    from evidence.archive import open_archive
    from evidence.archive.base import QueueFilter

    truth = generate(seed=SEED, listings=LISTINGS).ground_truth()
    counts: Counter[tuple[str, str]] = Counter()
    archive = open_archive(home)
    try:
        for rule in ("IMAGE_OFFICIAL_REUSED", "IMAGE_SHARED_ACROSS_SHOPS"):
            for row in archive.flagged(QueueFilter(rule_id=rule, limit=10_000)):
                traits = truth[row.listing_id]["traits"]
                kind = next(
                    (t for t in traits if t.startswith("image_copy") or t == "genuine_photo"),
                    "other photo",
                )
                counts[(rule, "edited copy" if kind.startswith("image_copy") else kind)] += 1
    finally:
        archive.close()
    return counts


def run() -> dict[str, Any]:
    from demo.generator import generate

    truth = generate(seed=SEED, listings=LISTINGS).ground_truth()
    copies = sum(
        1 for t in truth.values() if not t["fault"] and any("image_copy" in x for x in t["traits"])
    )
    genuine = sum(1 for t in truth.values() if "genuine_photo" in t["traits"])
    result: dict[str, Any] = {"listings": LISTINGS, "edited_copies": copies, "genuine": genuine}
    with tempfile.TemporaryDirectory() as tmp:
        empty, with_refs = Path(tmp) / "empty", Path(tmp) / "refs"
        references, _ = _add_references(with_refs)
        for name, home in (("no_references", empty), ("with_references", with_refs)):
            summary = _pass(home, refs=name == "with_references")
            flags = _image_flags(home)
            result[name] = {
                "flagged": summary["flagged"],
                "by_rule": {k: v for k, v in summary["by_rule"].items() if k.startswith("IMAGE")},
                "image_flags_by_trait": {f"{r} / {k}": n for (r, k), n in sorted(flags.items())},
            }
        result["references"] = references
    save("image_refs", result)
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"demo shop, {result['listings']} listings: {result['edited_copies']} edited copies of a "
        f"genuine photo, {result['genuine']} genuine photos posted as-is",
    ]
    for name in ("no_references", "with_references"):
        part = result[name]
        lines.append(f"{name.replace('_', ' ')}: {part['by_rule']}")
        lines.extend(f"  {k}: {n}" for k, n in part["image_flags_by_trait"].items())
    return "\n".join(lines)
