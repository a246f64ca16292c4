"""One crawl slice in a child process of a crawl worker: ``python -m
marketguard.distributed.crawl_child`` reads its orders as JSON on stdin and prints the pass
summary as one JSON line on stdout.

A child per crawl because Twisted's reactor runs once per process and cannot be restarted in a
long-lived worker. The pipelines are those of the in-process pass up to the images, then
``DispatchPipeline`` sends each listing out as a match task as soon as it is found.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from crawlers.run import PIPELINES, PassFailedError, run_pass
from marketguard.settings import Settings

DISPATCH_PIPELINES = {
    **{k: v for k, v in PIPELINES.items() if v < 100},
    "crawlers.pipelines.dispatch.DispatchPipeline": 100,
    "crawlers.pipelines.store.StorePipeline": 300,
}


def run(orders: dict[str, Any]) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "ITEM_PIPELINES": DISPATCH_PIPELINES,
        "CLOSESPIDER_TIMEOUT": orders["slice"],
        "DOWNLOAD_TIMEOUT": orders.get("download_timeout", 30),
        "MARKETGUARD_ORIGIN": orders.get("origin", ""),
        "MARKETGUARD_PRIORITY": orders["priority"],
    }
    if orders.get("check_id") is not None:
        overrides["MARKETGUARD_CHECK_ID"] = orders["check_id"]
    return run_pass(
        orders["spider"],
        orders["spider_args"],
        Settings.from_env(),
        capture=orders.get("capture", True),
        progress_interval=0,
        log_level="ERROR",
        overrides=overrides,
        job=orders["job"],
        incremental=orders.get("incremental", True),
    )


def main() -> int:
    orders = json.loads(sys.stdin.read())
    try:
        summary = run(orders)
    except PassFailedError as exc:
        print(json.dumps({"failed": str(exc)}, ensure_ascii=False), flush=True)
        return 3
    print(json.dumps(summary, ensure_ascii=False, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
