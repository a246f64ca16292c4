"""Figures for the statistics page, its JSON and its Excel export: counts of flagged listings
by category, platform, region, rule, decision and week (the store's ``queue_stats`` over the
same filters as the queue), and the share of cases on priority products against the work
plan's target (重点产品案件数量要占到总案件数量的30%以上)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.accounts.auth import WorkspaceDep
from api.cases import Case, ReviewConfig, list_cases, priority_share
from api.dependencies import ArchiveDep, app_zone
from api.queue_params import QueueParamsDep
from api.workspace_db import WorkspaceDb
from evidence.archive.base import Archive, QueueFilter

DIMENSIONS = ("category", "platform", "region", "rule", "decision", "week")


@dataclass(slots=True)
class Statistics:
    counts: dict[str, dict[str, int]]
    total: int
    cases: int
    priority_cases: int
    target: float
    referrals: int

    @property
    def priority_share(self) -> float:
        return self.priority_cases / self.cases if self.cases else 0.0

    @property
    def meets_target(self) -> bool:
        return self.cases > 0 and self.priority_share >= self.target


def statistics(
    archive: Archive,
    workspace: WorkspaceDb,
    query: QueueFilter,
    config: ReviewConfig,
    priority_categories: Iterable[str],
) -> Statistics:
    counts = archive.queue_stats(query) if hasattr(archive, "queue_stats") else {}
    cases: list[Case] = list_cases(workspace)
    priority, counted = priority_share(cases, set(priority_categories))
    return Statistics(
        counts={name: counts.get(name, {}) for name in DIMENSIONS},
        total=sum(counts.get("category", {}).values()),
        cases=counted,
        priority_cases=priority,
        target=config.priority_target,
        referrals=sum(1 for case in cases if case.referral(config)),
    )


def request_statistics(
    request: Request, archive: ArchiveDep, workspace: WorkspaceDep, params: QueueParamsDep
) -> Statistics:
    """The figures for a request's queue filters (the page, its JSON and its export agree)."""
    state = request.app.state
    return statistics(
        archive,
        workspace,
        params.to_filter(zone=app_zone(request)),
        state.review_config,
        state.priority_categories,
    )


StatisticsDep = Annotated[Statistics, Depends(request_statistics)]
