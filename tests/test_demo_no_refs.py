"""`marketguard demo --no-refs`: the demo pass without the brands' genuine photos, the baseline
that bench/image_refs.py compares the reference library against."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def _refs(store: Path) -> list[dict[str, object]]:
    listed = run_cli("refs", "list", "--json", "--store", str(store))
    assert listed.returncode == 0, listed.stderr
    brands: list[dict[str, object]] = json.loads(listed.stdout)["brands"]
    return brands


def test_no_refs_leaves_the_reference_library_empty_and_the_default_fills_it(
    tmp_path: Path,
) -> None:
    args = ("demo", "--no-serve", "--json", "--no-capture", "--listings", "30", "--seed", "11")
    without = run_cli(*args, "--no-refs", "--store", str(tmp_path / "without"))
    assert without.returncode == 0, without.stderr
    summary = json.loads(without.stdout)
    assert summary["listings"] > 0
    assert "IMAGE_OFFICIAL_REUSED" not in summary["by_rule"]
    assert _refs(tmp_path / "without") == []

    default = run_cli(*args, "--store", str(tmp_path / "default"))
    assert default.returncode == 0, default.stderr
    assert sum(int(b["photos"]) for b in _refs(tmp_path / "default")) > 0  # type: ignore[call-overload]
