"""``marketguard status``: the broker's queues and the workers that answer.

marketguard status [--json] [--timeout SECONDS] [--store DIR]

Exit code 0 when the broker answers, 1 when it does not, 2 when no broker is configured
(MARKETGUARD_BROKER_URL and ``[workers] broker_url`` unset: everything runs in-process).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from marketguard.settings import Settings

EXIT_OK, EXIT_UNREACHABLE, EXIT_NOT_CONFIGURED = 0, 1, 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "status",
        help="queue depths and workers of the Celery broker",
        description="任务队列与工作进程状态 (queue depths and workers of the Celery broker)",
    )
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.add_argument(
        "--timeout", type=float, default=1.0, help="seconds to wait for workers (default 1)"
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="home folder holding marketguard.toml (default $MARKETGUARD_HOME or ./var)",
    )
    parser.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from marketguard.distributed.config import worker_config
    from marketguard.distributed.status import status_for

    home = args.store if args.store is not None else Settings.from_env().home
    try:
        config = worker_config(home)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    result = status_for(config, timeout=max(0.1, args.timeout))
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render(result))
    if not result.configured:
        return EXIT_NOT_CONFIGURED
    return EXIT_OK if result.reachable else EXIT_UNREACHABLE


def render(result) -> str:  # type: ignore[no-untyped-def]
    """The status as a terminal table (Chinese labels with English beside them)."""
    from marketguard.distributed.status import QUEUE_LABELS

    if not result.configured:
        return (
            "单机模式：未配置消息代理，所有工作在本进程内完成。\n"
            "No broker configured (MARKETGUARD_BROKER_URL or [workers] broker_url):"
            " everything runs in-process."
        )
    lines = [f"消息代理 broker: {result.broker}"]
    if not result.reachable:
        lines.append(f"消息代理不可达 broker unreachable: {result.error}")
        return "\n".join(lines)
    per_queue = result.workers_per_queue()
    header = ("队列 queue", "等待 waiting", "处理中 unacked", "工作进程 workers")
    rows = [
        (
            f"{name} {QUEUE_LABELS.get(name, '')}".strip(),
            str(depth.waiting),
            "—" if depth.unacked is None else str(depth.unacked),
            str(per_queue.get(name, 0)),
        )
        for name, depth in result.queues.items()
    ]
    lines += ["", *_table(header, rows)]
    if result.unacked_total is not None:
        lines.append(f"未确认合计 unacked total: {result.unacked_total}")
    lines.append("")
    if result.workers:
        lines.append(f"工作进程 workers: {len(result.workers)}")
        lines += _table(
            ("名称 name", "队列 queues", "运行中 active"),
            [(w.name, ",".join(w.queues) or "—", str(w.active)) for w in result.workers],
        )
    else:
        lines.append("没有工作进程应答 no worker answered")
    if result.error:
        lines.append(f"部分信息未取得 partial: {result.error}")
    return "\n".join(lines)


def _width(text: str) -> int:
    # CJK characters take two terminal columns.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(_width(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)]
        return "  ".join(cells).rstrip()

    return [line(header), *(line(row) for row in rows)]
