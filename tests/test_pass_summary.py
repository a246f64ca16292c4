"""The pass summary is computed from Scrapy stats; its keys are a contract for scripts."""

from __future__ import annotations

import json

import pytest

from crawlers.stats_keys import pass_summary


def test_summary_counts_rules_and_error_kinds_from_stats() -> None:
    stats = {
        "marketguard/listings": 5,
        "marketguard/flagged": 2,
        "marketguard/evidence": 1,
        "marketguard/errors": 3,
        "marketguard/errors/parse": 1,
        "marketguard/errors/http_status": 2,
        "marketguard/flags/PRICE_TOO_LOW": 1,
        "marketguard/flags/CCC_MISSING": 2,
        "marketguard/store": "/tmp/x.db",
        "elapsed_time_seconds": 1.23456,
        "response_received_count": 40,  # Scrapy's own stats stay out of by_rule
    }
    summary = pass_summary(stats)
    assert summary["listings"] == 5 and summary["flagged"] == 2 and summary["evidence"] == 1
    assert summary["errors"] == 3
    assert summary["by_rule"] == {"CCC_MISSING": 2, "PRICE_TOO_LOW": 1}
    assert list(summary["by_rule"]) == ["CCC_MISSING", "PRICE_TOO_LOW"]  # sorted, stable
    assert summary["errors_by_kind"] == {"http_status": 2, "parse": 1}
    assert summary["store"] == "/tmp/x.db"
    assert summary["elapsed_seconds"] == 1.235


def test_empty_pass_has_zero_counts() -> None:
    summary = pass_summary({})
    assert summary["listings"] == summary["flagged"] == summary["errors"] == 0
    assert summary["by_rule"] == {} and summary["errors_by_kind"] == {}
    assert summary["elapsed_seconds"] is None


def test_image_counts_in_the_summary_not_in_the_json_contract(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from marketguard.cli import SUMMARY_KEYS, _print_summary

    stats = {
        "marketguard/listings": 4,
        "marketguard/images/hashed": 7,
        "marketguard/images/errors": 2,
        "marketguard/images/unreadable/truncated": 1,
        "marketguard/images/ocr": 3,
        "marketguard/images/ocr_cached": 1,
    }
    summary = pass_summary(stats)
    assert summary["images"] == {"hashed": 7, "errors": 2, "ocr": 3, "ocr_cached": 1}
    assert pass_summary({})["images"] == {}  # the image step did not run
    _print_summary(summary, as_json=False)
    human = capsys.readouterr().out
    assert "已哈希 hashed 7" in human and "无法读取 errors 2" in human and "OCR 3 (+1" in human
    _print_summary(summary, as_json=True)
    printed = json.loads(capsys.readouterr().out)
    assert (
        set(printed)
        == set(SUMMARY_KEYS)
        == {"listings", "flagged", "evidence", "errors", "by_rule", "store"}
    )
