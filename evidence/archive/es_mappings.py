"""Index templates and analyzers of the Elasticsearch archive (see docs/store.md)."""

from __future__ import annotations

from typing import Any

from elasticsearch import BadRequestError, Elasticsearch

INDEX_NAMES = (
    "listings",
    "versions",
    "flags",
    "evidence",
    "blobs",
    "reviews",
    "errors",
    "passes",
    "ledger",
)


def _keyword() -> dict[str, Any]:
    return {"type": "keyword"}


def _date() -> dict[str, Any]:
    return {"type": "date"}


def _long() -> dict[str, Any]:
    return {"type": "long"}


def _stored() -> dict[str, Any]:
    # Kept in _source exactly as written (the record as made), not indexed: its shape follows
    # the Python models, which may gain fields, and a strict mapping must not refuse them.
    return {"type": "object", "enabled": False}


def index_templates(prefix: str, analyzer: str, search_analyzer: str) -> dict[str, dict[str, Any]]:
    """Index template bodies by index name. Times are kept twice: a ``date`` for people and
    tools (Kibana, range queries) and a ``*_us`` long (microseconds) for exact ordering, since a
    ``date`` sorts at millisecond precision."""

    def text(**extra: Any) -> dict[str, Any]:
        return {"type": "text", "analyzer": analyzer, "search_analyzer": search_analyzer, **extra}

    keyed = {"key": _keyword(), "platform": _keyword(), "listing_id": _keyword()}
    properties: dict[str, dict[str, Any]] = {
        "listings": {
            **keyed,
            "seq": _long(),
            "version": {"type": "integer"},
            "content_hash": _keyword(),
            "url": _keyword(),
            "title": text(fields={"raw": {"type": "keyword", "ignore_above": 512}}),
            "description": text(),
            # Exact substring search (QueueFilter.text) runs as a case-insensitive wildcard over
            # keywords: the title's raw form, the seller's name and the description's head.
            "description_head": _keyword(),
            "price": _keyword(),
            "currency": _keyword(),
            "category": _keyword(),
            "seller_name": _keyword(),
            "seller_location": _keyword(),
            "first_seen": _date(),
            "first_seen_us": _long(),
            "last_seen": _date(),
            "last_seen_us": _long(),
            "last_pass_id": _long(),
            "max_severity": {"type": "byte"},
            "risk_score": {"type": "byte"},
            "seller_id": _keyword(),
            "flag_count": {"type": "integer"},
            "rule_ids": _keyword(),
            "decision": _keyword(),
            "decision_at_us": _long(),
            "decision_seq": _long(),
            "screenshot_sha256": _keyword(),
            "screenshot_at_us": _long(),
            "screenshot_seq": _long(),
            "search_keyword": _keyword(),
            "gone_at": _date(),
            "gone_at_us": _long(),
        },
        "versions": {
            **keyed,
            "version": {"type": "integer"},
            "content_hash": _keyword(),
            "seen_at": _date(),
            "pass_id": _long(),
            "title": text(),
            "description": text(),
            "data": _stored(),
        },
        "flags": {
            **keyed,
            "version": {"type": "integer"},
            "rule_ids": _keyword(),
            "items": {
                "type": "nested",
                "properties": {
                    "position": {"type": "integer"},
                    "rule_id": _keyword(),
                    "severity": _keyword(),
                    "field": _keyword(),
                    "snippet": text(),
                },
            },
            "data": _stored(),
        },
        "evidence": {
            **keyed,
            "capture_id": _keyword(),
            "case_id": _keyword(),
            "version": {"type": "integer"},
            "pass_id": _long(),
            "started_at": _date(),
            "started_us": _long(),
            "seq": _long(),
            "artifacts": {
                "type": "nested",
                "properties": {
                    "kind": _keyword(),
                    "media_type": _keyword(),
                    "sha256": _keyword(),
                    "size": _long(),
                    "source_url": _keyword(),
                },
            },
            "data": _stored(),
        },
        "blobs": {
            "sha256": _keyword(),
            "size": _long(),
            "stored_at": _date(),
            "data": {"type": "binary"},
        },
        "reviews": {
            **keyed,
            "decision": _keyword(),
            "reviewer": _keyword(),
            "reason": text(),
            "decided_at": _date(),
            "decided_us": _long(),
            "seq": _long(),
        },
        "errors": {
            "pass_id": _long(),
            "url": _keyword(),
            "kind": _keyword(),
            "message": text(),
            "at": _date(),
            "at_us": _long(),
            "seq": _long(),
        },
        "ledger": {
            # The entry exactly as sealed, as JSON text: its hash is over those bytes' content,
            # and a text field comes back byte for byte, whatever the cluster does to numbers.
            "position": _long(),
            "seq": _long(),
            "kind": _keyword(),
            "capture_id": _keyword(),
            "case_id": _keyword(),
            "entry_hash": _keyword(),
            "entry_json": {"type": "keyword", "index": False, "doc_values": False},
        },
        "work": {
            "key": _keyword(),
            "owner": _keyword(),
            "lease_until": {"type": "double"},
            "done_at": _date(),
            "result": _stored(),
        },
        "passes": {
            "pass_id": _long(),
            "token": _keyword(),
            "started_at": _date(),
            "finished_at": _date(),
            "settings": _stored(),
            "summary": _stored(),
        },
    }
    return {
        name: {
            "index_patterns": [f"{prefix}-{name}"],
            "priority": 500,
            "template": {
                # No lifecycle setting and no ILM policy: nothing here ever deletes evidence.
                "settings": {"number_of_shards": 1},
                "mappings": {
                    "dynamic": "strict",
                    "_meta": {"marketguard": 1, "analyzer": analyzer},
                    "properties": props,
                },
            },
            "_meta": {"description": f"MarketGuard {name}; written by evidence/archive"},
        }
        for name, props in properties.items()
    }


def detect_analyzer(client: Elasticsearch) -> tuple[str, str]:
    """(index analyzer, search analyzer) for Chinese text: IK or smartcn when the cluster has the
    plugin (found by asking ``_analyze`` for it), otherwise the built-in ``cjk`` (bigrams)."""
    for index_analyzer, search_analyzer in (("ik_max_word", "ik_smart"), ("smartcn", "smartcn")):
        try:
            client.indices.analyze(analyzer=index_analyzer, text="强制性产品认证")
        except BadRequestError:
            continue
        return index_analyzer, search_analyzer
    return "cjk", "cjk"
