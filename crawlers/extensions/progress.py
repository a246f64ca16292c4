"""Show a pass's progress on stderr while it runs (listings, flagged, evidence, errors, rate).

Scrapy's own log is for engineers; this one line is for the officer who started the pass.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from crawlers.stats_keys import PREFIX


class Progress:
    def __init__(self, crawler: Crawler, interval: float, stream: TextIO) -> None:
        self.crawler = crawler
        self.interval = interval
        self.stream = stream
        self.started = time.monotonic()
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Progress:
        interval = crawler.settings.getfloat("MARKETGUARD_PROGRESS_INTERVAL", 2.0)
        if interval <= 0:
            raise NotConfigured
        ext = cls(crawler, interval, sys.stderr)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self) -> None:
        self.started = time.monotonic()
        self.loop = task.LoopingCall(self.report)
        self.loop.start(self.interval, now=False)

    def spider_closed(self) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self.report(final=True)

    def report(self, final: bool = False) -> None:
        stats = self.crawler.stats
        assert stats is not None

        def get(key: str) -> int:
            return int(stats.get_value(PREFIX + key, 0))

        elapsed = max(time.monotonic() - self.started, 1e-9)
        pages = int(stats.get_value("response_received_count", 0))
        line = (
            f"[{'完成' if final else '进行中'}] 页面 {pages} · 商品 {get('listings')} · "
            f"标记 {get('flagged')} · 取证 {get('evidence')} · 错误 {get('errors')} · "
            f"{get('listings') / elapsed:.1f} 条/秒 · {elapsed:.0f} 秒"
        )
        print(line, file=self.stream, flush=True)
