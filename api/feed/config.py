"""Feed settings: deadlines per requested action, re-check delay, webhook retry policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

# What officers may ask a platform to do, with the default time allowed.
ACTIONS: tuple[str, ...] = ("下架", "删除链接", "暂停服务")


@dataclass(frozen=True, slots=True)
class FeedConfig:
    # 删除链接 (delete a link) is the quickest measure; suspending a shop's service needs the
    # platform's own review, so it gets longer.
    deadlines: dict[str, timedelta] = field(
        default_factory=lambda: {
            "下架": timedelta(hours=48),
            "删除链接": timedelta(hours=24),
            "暂停服务": timedelta(hours=72),
        }
    )
    recheck_delay: timedelta = timedelta(days=7)
    recheck_retry: timedelta = timedelta(hours=6)  # after a re-check that could not decide
    relisting_scan_limit: int = 5000  # candidate listings read per re-check
    webhook_max_attempts: int = 8
    webhook_backoff: timedelta = timedelta(seconds=30)  # doubled after every failure
    webhook_backoff_max: timedelta = timedelta(hours=2)
    webhook_timeout: float = 10.0
    webhook_lease: timedelta = timedelta(minutes=2)  # a claimed delivery is not sent twice
    worker_interval: float = 5.0  # seconds between rounds of the serve-time worker
    page_limit_default: int = 100
    page_limit_max: int = 1000

    def deadline_for(self, action: str) -> timedelta:
        return self.deadlines[action]
