"""The monitoring pass without evidence (crawl + match + store), timed by Scrapy's own stats.

python -m bench.pipeline_crawl BASE_URL STORE_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from crawlers.run import run_pass
from marketguard.cli import watchlist_search_terms
from marketguard.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    settings.home = Path(sys.argv[2])
    summary = run_pass(
        "demo_shop",
        {"base_url": sys.argv[1], "keywords": ",".join(watchlist_search_terms(settings))},
        settings,
        capture=False,
        progress_interval=0,
        log_level="ERROR",
    )
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
