"""`make bench`: every benchmark, each against a baseline measured in the same run.

    python -m bench [crawl|screenshots|matching|es_bulk|images|feed] ...

Results are printed and written to bench/results/*.json.
"""

from __future__ import annotations

import sys

from bench import crawl_pass, es_bulk, feed_latency, images, screenshots


def main(argv: list[str]) -> None:
    which = set(argv) or {"crawl", "screenshots", "es_bulk", "images", "feed"}
    if "crawl" in which:
        print(crawl_pass.report(crawl_pass.run()), flush=True)
    if "screenshots" in which:
        print(screenshots.report(screenshots.run()), flush=True)
    if "images" in which:
        print(images.report(images.run()), flush=True)
    if "es_bulk" in which:
        print(es_bulk.report(es_bulk.run()), flush=True)
    if "feed" in which:
        print(feed_latency.report(feed_latency.run()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
