"""The pass summary is computed from Scrapy stats; its keys are a contract for scripts."""

from __future__ import annotations

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
