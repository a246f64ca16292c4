"""`make bench`: every benchmark, each against a baseline measured in the same run.

    python -m bench [crawl|screenshots|verify|text|es_bulk|images|image_refs|js|extraction|feed|
                     queue|checks] ...
    python -m bench capture_profile   (not in the default set: one capture's time and CPU by
                                       step and by process)

Results are printed and written to bench/results/*.json.
"""

from __future__ import annotations

import sys

from bench import (
    capture_profile,
    checks,
    crawl_pass,
    es_bulk,
    extraction,
    feed_latency,
    image_refs,
    images,
    js_crawl,
    queue_latency,
    screenshots,
    text_rules,
    verify_speed,
    workers,
)


def main(argv: list[str]) -> None:
    which = set(argv) or {
        "crawl",
        "screenshots",
        "es_bulk",
        "images",
        "image_refs",
        "js",
        "extraction",
        "feed",
        "queue",
        "text",
        "verify",
        "checks",
    }
    if "text" in which:  # matching's text rules, one core
        print(text_rules.report(text_rules.run()), flush=True)
    if "crawl" in which:
        print(crawl_pass.report(crawl_pass.run()), flush=True)
    if "screenshots" in which:
        print(screenshots.report(screenshots.run()), flush=True)
    if "capture_profile" in which:  # where a capture's wall time and CPU go
        print(capture_profile.report(capture_profile.run()), flush=True)
    if "verify" in which:  # evidence verify, MB hashed per second vs sha256sum
        print(verify_speed.report(verify_speed.run()), flush=True)
    if "images" in which:
        print(images.report(images.run()), flush=True)
    if "image_refs" in which:  # two demo passes with the image step on, with/without refs.db
        print(image_refs.report(image_refs.run()), flush=True)
    if "es_bulk" in which:
        print(es_bulk.report(es_bulk.run()), flush=True)
    if "extraction" in which:
        print(extraction.report(extraction.run()), flush=True)
    if "js" in which:  # 2 000 JavaScript pages through Chromium, browser memory sampled
        print(js_crawl.report(js_crawl.run()), flush=True)
    if "feed" in which:
        print(feed_latency.report(feed_latency.run()), flush=True)
    if "checks" in which:  # POST /api/checks -> queued and -> done, one worker; crawl --url
        print(checks.report(checks.run()), flush=True)
    if "workers" in which:  # whole pass on 1 and 2 Celery worker processes vs in-process
        print(workers.report(workers.run()), flush=True)
        print(workers.report(workers.run(capture=False)), flush=True)
    if "queue" in which:  # review queue page and JSON, 100 000 listings, /healthz baseline
        print(queue_latency.report(queue_latency.run()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
