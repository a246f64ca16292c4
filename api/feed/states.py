"""The notice state machine. Who may move a notice from which status to which.

    new ──received──▶ received ──removed──▶ removed ──(re-check: gone)──▶ closed
     ▲                   │  ├──rejected──▶ rejected ─┐
     │                   │  └──disputed──▶ disputed ─┤ officer: reopen / close
  reopened ◀─(re-check: still live or re-listed)─────┘

Platforms report received, removed, rejected (with a reason) and disputed (with a reason);
removed, rejected and disputed only after received. Officers close or reopen. Closed is final.
"""

from __future__ import annotations

from typing import Literal

Status = Literal["new", "received", "removed", "rejected", "disputed", "reopened", "closed"]
PlatformStatus = Literal["received", "removed", "rejected", "disputed"]
PLATFORM_STATUSES: tuple[str, ...] = ("received", "removed", "rejected", "disputed")
NEEDS_REASON = frozenset({"rejected", "disputed"})
# Still waiting for the platform to act: these can be overdue.
AWAITING_PLATFORM = frozenset({"new", "received", "reopened"})

PLATFORM_MOVES: dict[str, frozenset[str]] = {
    "new": frozenset({"received"}),
    "reopened": frozenset({"received"}),
    "received": frozenset({"removed", "rejected", "disputed"}),
    "removed": frozenset(),
    "rejected": frozenset(),
    "disputed": frozenset(),
    "closed": frozenset(),
}
OFFICER_MOVES: dict[str, frozenset[str]] = {
    "new": frozenset({"closed"}),
    "received": frozenset({"closed"}),
    "reopened": frozenset({"closed"}),
    "removed": frozenset({"closed", "reopened"}),
    "rejected": frozenset({"closed", "reopened"}),
    "disputed": frozenset({"closed", "reopened"}),
    "closed": frozenset(),
}
SYSTEM_MOVES: dict[str, frozenset[str]] = {"removed": frozenset({"closed", "reopened"})}

LABELS_ZH = {
    "new": "待接收",
    "received": "已接收",
    "removed": "已下架",
    "rejected": "平台拒绝",
    "disputed": "平台异议",
    "reopened": "已重新打开",
    "closed": "已结案",
}


class TransitionError(ValueError):
    """A status change the state machine does not allow; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str, current: str, allowed: frozenset[str]) -> None:
        super().__init__(message)
        self.code = code
        self.current = current
        self.allowed = sorted(allowed)


def check_platform_move(current: str, wanted: str, reason: str) -> None:
    if wanted not in PLATFORM_STATUSES:
        raise TransitionError(
            "unknown_status",
            f"status must be one of {', '.join(PLATFORM_STATUSES)}",
            current,
            PLATFORM_MOVES.get(current, frozenset()),
        )
    if current == "closed":
        raise TransitionError("notice_closed", "the notice is closed", current, frozenset())
    if wanted in NEEDS_REASON and not reason.strip():
        raise TransitionError(
            "reason_required",
            f"a {wanted} report needs a reason",
            current,
            PLATFORM_MOVES[current],
        )
    allowed = PLATFORM_MOVES[current]
    if wanted not in allowed:
        hint = " (report received first)" if current in ("new", "reopened") else ""
        raise TransitionError(
            "invalid_transition", f"cannot go from {current} to {wanted}{hint}", current, allowed
        )


def check_move(moves: dict[str, frozenset[str]], current: str, wanted: str) -> None:
    allowed = moves.get(current, frozenset())
    if current == "closed":
        raise TransitionError("notice_closed", "the notice is closed", current, frozenset())
    if wanted not in allowed:
        raise TransitionError(
            "invalid_transition", f"cannot go from {current} to {wanted}", current, allowed
        )
