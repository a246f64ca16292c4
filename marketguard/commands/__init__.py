"""Subcommands of ``marketguard`` beyond demo/crawl/serve, one module per command group.

Each module listed in ``COMMAND_MODULES`` defines ``register(sub)``, which adds its subparsers
to the ``marketguard`` parser and sets ``func`` on each. Modules import heavy dependencies
inside their handlers so that ``marketguard --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib

COMMAND_MODULES: list[str] = [
    # one line per module; keep sorted
    "marketguard.commands.beat",
    "marketguard.commands.check",
    "marketguard.commands.evidence",
    "marketguard.commands.feed",
    "marketguard.commands.refs",
    "marketguard.commands.registry",
    "marketguard.commands.status",
    "marketguard.commands.store",
    "marketguard.commands.users",
    "marketguard.commands.workers",
]


def register_all(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
