"""AutoThrottle that never goes below a site's own delay.

Scrapy's AutoThrottle lowers a host's delay towards latency / target concurrency, with the
global ``DOWNLOAD_DELAY`` as its only floor, so an adapter's ``delay: 1.5`` (a ``DOWNLOAD_SLOTS``
entry, see crawlers/middlewares/site_policy.py) would be worn down to milliseconds after a few
fast answers. This subclass keeps each host's delay at or above that host's configured one.
"""

from __future__ import annotations

from scrapy import Spider
from scrapy.extensions.throttle import AutoThrottle
from scrapy.http import Request, Response


class SiteAwareAutoThrottle(AutoThrottle):
    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        super()._response_downloaded(response, request, spider)
        key, slot = self._get_slot(request, spider)
        engine = self.crawler.engine
        if key is None or slot is None or engine is None or engine.downloader is None:
            return
        floor = engine.downloader.per_slot_settings.get(key, {}).get("delay")
        if floor is not None and slot.delay < float(floor):
            slot.delay = float(floor)
