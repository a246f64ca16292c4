"""``python -m demo``: serve the demo marketplace until killed.

Prints exactly one line to stdout once listening: ``DEMO_URL http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from types import FrameType

from demo.generator import MAX_LISTINGS, generate
from demo.server import DemoServer


def _listings(value: str) -> int:
    number = int(value)
    if not 1 <= number <= MAX_LISTINGS:
        raise argparse.ArgumentTypeError(f"between 1 and {MAX_LISTINGS}")
    return number


def _share(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError("between 0 and 1")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--listings", type=_listings, default=300, help=f"1..{MAX_LISTINGS}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--no-faults", action="store_true", help="no HTTP 500/broken page/image")
    parser.add_argument("--js-share", type=_share, default=0.10, help="share of JS-rendered pages")
    parser.add_argument("--write-ground-truth", type=Path, metavar="FILE")
    args = parser.parse_args(argv)

    marketplace = generate(
        seed=args.seed, listings=args.listings, faults=not args.no_faults, js_share=args.js_share
    )
    if args.write_ground_truth:
        args.write_ground_truth.write_text(
            json.dumps(marketplace.ground_truth(), ensure_ascii=False, indent=1, sort_keys=True),
            encoding="utf-8",
        )
    server = DemoServer(marketplace, host=args.host, port=args.port)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, stop)
    print(f"DEMO_URL {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
