"""MarketGuard's work on Celery workers across machines (docs/deployment.md).

Without a broker (``MARKETGUARD_BROKER_URL`` unset) nothing here runs: ``marketguard demo`` and
``marketguard crawl`` keep doing the whole pass in one process. With one, a monitoring pass fans
out over six queues, each scaled on its own:

- ``crawl``: a Scrapy pass in a child process per task; listings stream out as match tasks;
- ``match``: the pure rules (fast);
- ``capture``: browser evidence (heavy; one Chromium per worker, bounded pages at once);
- ``store``: the write of a listing with its flags and evidence;
- ``notify``: platform webhooks, overdue notices and check results (beside ``serve``);
- ``recheck``: takedown re-checks.
"""
