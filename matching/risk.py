"""The risk score: a listing's flags combined into 0-100, with the share each flag contributed.

Each flag carries points (its rule's ``risk.rule_points`` in rules.yaml, else its severity's
``severity_points``). Points combine like independent pieces of evidence (noisy-OR): a flag of
p points closes p% of the distance still left to 100, so two weak signals never outweigh one
strong finding by simple addition, and the score cannot pass 100. A rule counts once per
listing. Contributions are given in the order they were applied (strongest first) and add up
to the score. A listing whose score reaches its category's ``risk_threshold`` (catalogue; else
``risk.default_threshold``) is marked ``act``: the officer's queue starts there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from marketguard.models import Flag
from matching.catalogue import Category
from matching.yaml_schema import Node

DEFAULT_SEVERITY_POINTS = {"high": 45, "medium": 25, "low": 10}
DEFAULT_THRESHOLD = 60


@dataclass(frozen=True, slots=True)
class RiskScore:
    score: int  # 0-100
    threshold: int  # the category's action threshold
    contributions: tuple[tuple[str, int], ...] = ()  # (rule id, points added), largest first

    @property
    def act(self) -> bool:
        """At or above the category's threshold (and flagged at all)."""
        return self.score > 0 and self.score >= self.threshold

    def explain(self) -> str:
        """ "CCC_MISSING +45, SELLER_RISK +14 = 59 (threshold 50)"."""
        parts = ", ".join(f"{rule} +{points}" for rule, points in self.contributions)
        return f"{parts or '—'} = {self.score} (threshold {self.threshold})"

    def to_dict(self) -> dict[str, object]:
        return {
            "score": self.score,
            "threshold": self.threshold,
            "act": self.act,
            "contributions": [list(c) for c in self.contributions],
        }


NO_RISK = RiskScore(score=0, threshold=DEFAULT_THRESHOLD)
_MAX_CACHED_SCORES = 4096  # flag combinations kept per model; bounds memory on odd input


@dataclass(frozen=True, slots=True)
class RiskModel:
    severity_points: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SEVERITY_POINTS))
    rule_points: dict[str, int] = field(default_factory=dict)
    default_threshold: int = DEFAULT_THRESHOLD
    # Scores of flag sets seen before, by threshold and (rule id, severity) of each flag: the
    # score depends on nothing else, and a pass meets the same few combinations again and again.
    _scores: dict[tuple[object, ...], RiskScore] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def points(self, flag: Flag) -> int:
        points = self.rule_points.get(flag.rule_id)
        if points is None:
            points = self.severity_points.get(flag.severity, 0)
        return points

    def score(self, flags: Sequence[Flag], category: Category | None = None) -> RiskScore:
        threshold = self.default_threshold
        if category is not None and category.risk_threshold is not None:
            threshold = category.risk_threshold
        if len(flags) == 1:  # the usual case, without the general machinery
            flag = flags[0]
            points = min(self.points(flag), 100)
            return RiskScore(points, threshold, ((flag.rule_id, points),))
        key = (threshold, *[(flag.rule_id, flag.severity) for flag in flags])
        score = self._scores.get(key)
        if score is None:
            score = self._score_many(flags, threshold)
            if len(self._scores) < _MAX_CACHED_SCORES:
                self._scores[key] = score
        return score

    def _score_many(self, flags: Sequence[Flag], threshold: int) -> RiskScore:
        best: dict[str, int] = {}
        rule_points, severity_points = self.rule_points, self.severity_points
        for flag in flags:
            points = rule_points.get(flag.rule_id)  # self.points(), inlined: runs per flag
            if points is None:
                points = severity_points.get(flag.severity, 0)
            if points > best.get(flag.rule_id, -1):
                best[flag.rule_id] = points
        if not best:
            return RiskScore(0, threshold) if threshold != NO_RISK.threshold else NO_RISK
        remaining = 100.0
        total = 0.0
        shown = 0
        contributions: list[tuple[str, int]] = []
        for rule_id, points in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])):
            added = remaining * min(points, 100) / 100
            remaining -= added
            total += added
            # Round the running total, not each share, so the shares add up to the score.
            step = round(total) - shown
            shown += step
            contributions.append((rule_id, step))
        return RiskScore(score=shown, threshold=threshold, contributions=tuple(contributions))


def load_risk(node: Node | None, rule_ids: frozenset[str]) -> RiskModel:
    """The optional ``risk`` block of rules.yaml."""
    if node is None:
        return RiskModel()
    f = node.fields(optional=("severity_points", "rule_points", "default_threshold"))
    severity = dict(DEFAULT_SEVERITY_POINTS)
    if "severity_points" in f:
        for name, value in f["severity_points"].fields(optional=tuple(severity)).items():
            severity[name] = _points(value)
    rules: dict[str, int] = {}
    if "rule_points" in f:
        raw = f["rule_points"]
        for rule_id, value in raw.fields(optional=tuple(raw.value or ())).items():
            if rule_id not in rule_ids:
                value.fail(f"unknown rule {rule_id!r}")
            rules[rule_id] = _points(value)
    threshold = DEFAULT_THRESHOLD
    if "default_threshold" in f:
        threshold = _points(f["default_threshold"])
    return RiskModel(severity_points=severity, rule_points=rules, default_threshold=threshold)


def _points(node: Node) -> int:
    value = node.integer(minimum=0)
    if value > 100:
        node.fail(f"expected points between 0 and 100, got {value}")
    return value
