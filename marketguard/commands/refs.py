"""``marketguard refs``: the library of genuine brand photos (home/refs.db).

marketguard refs add BRAND FILE... [--seller PLATFORM:SELLER_ID ...]   hash genuine photos in
marketguard refs authorise BRAND PLATFORM:SELLER_ID...                  sellers allowed to use them
marketguard refs list [--brand BRAND] [--json]

A listing image that matches a brand's photo (mirrored, turned, cropped or recompressed copies
included), posted by a seller not authorised for the brand, is flagged IMAGE_OFFICIAL_REUSED.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from marketguard.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    refs = sub.add_parser("refs", help="genuine brand photos for IMAGE_OFFICIAL_REUSED")
    refs_sub = refs.add_subparsers(title="refs commands")

    add = refs_sub.add_parser("add", help="add genuine photos of a brand")
    add.add_argument("brand")
    add.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add.add_argument(
        "--seller",
        action="append",
        default=[],
        metavar="PLATFORM:SELLER_ID",
        help="a seller authorised to use the brand's photos (repeatable)",
    )
    _store(add)
    add.set_defaults(func=cmd_add)

    authorise = refs_sub.add_parser("authorise", help="sellers authorised to use a brand's photos")
    authorise.add_argument("brand")
    authorise.add_argument("sellers", nargs="+", metavar="PLATFORM:SELLER_ID")
    _store(authorise)
    authorise.set_defaults(func=cmd_authorise)

    listing = refs_sub.add_parser("list", help="list brands and their reference photos")
    listing.add_argument("--brand", default=None)
    listing.add_argument("--json", action="store_true")
    _store(listing)
    listing.set_defaults(func=cmd_list)


def _store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=Path, default=None, help="store folder (default $MARKETGUARD_HOME or ./var)"
    )


def _home(args: argparse.Namespace) -> Path:
    return args.store if args.store is not None else Settings.from_env().home


def cmd_add(args: argparse.Namespace) -> int:
    from marketguard.image_index import ReferenceLibrary
    from matching.image_hash import ImageDecodeError

    failed = 0
    with ReferenceLibrary.in_home(_home(args)) as library:
        for path in args.files:
            try:
                data = path.read_bytes()
                added = library.add(args.brand, data, path.name)
            except (OSError, ImageDecodeError, ValueError) as exc:
                print(f"跳过 {path}: {exc}", file=sys.stderr)
                failed += 1
                continue
            ref = added.reference
            state = "已添加" if added.new else "已存在"
            size = f"{ref.width}x{ref.height}"
            print(f"{state} #{ref.ref_id} {ref.brand} {path.name} {size} {ref.phash}")
        if args.seller:
            try:
                library.authorise(args.brand, args.seller)
            except ValueError as exc:
                print(f"错误: {exc}", file=sys.stderr)
                return 2
    return 1 if failed else 0


def cmd_authorise(args: argparse.Namespace) -> int:
    from marketguard.image_index import ReferenceLibrary

    with ReferenceLibrary.in_home(_home(args)) as library:
        try:
            count = library.authorise(args.brand, args.sellers)
        except ValueError as exc:
            print(f"错误: {exc}", file=sys.stderr)
            return 2
        total = len(library.authorised_sellers(args.brand))
    print(f"{args.brand}: 新增授权店铺 {count} 家，共 {total} 家")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from marketguard.image_index import ReferenceLibrary

    with ReferenceLibrary.in_home(_home(args)) as library:
        refs = library.references(args.brand)
        brands = library.brands()
        sellers = {b: sorted(library.authorised_sellers(b)) for b, _, _ in brands}
    if args.json:
        payload = {
            "brands": [
                {"brand": b, "photos": n, "authorised_sellers": sellers[b]} for b, n, _ in brands
            ],
            "references": [
                {
                    "ref_id": r.ref_id,
                    "brand": r.brand,
                    "name": r.name,
                    "sha256": r.sha256,
                    "size": [r.width, r.height],
                    "phash": r.phash,
                    "added_at": r.added_at,
                }
                for r in refs
            ],
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    for brand, photos, count in brands:
        if args.brand is None or brand == args.brand:
            print(f"{brand}: 参考图 {photos} 张，授权店铺 {count} 家")
    for r in refs:
        print(f"  #{r.ref_id} {r.brand} {r.name} {r.width}x{r.height} {r.phash} {r.added_at}")
    return 0
