"""Whether a capture's evidence still holds, for the detail and verify pages.

Two checks. Every file of the capture is read back from the store, which re-hashes it against
its name (a changed byte is caught). Then, when the evidence module provides it,
``evidence.verify.verify_archive(capture_id=...)`` re-walks the sealed ledger: the manifest
hash the ledger sealed at capture time, the chain up to it and the checkpoints. The second
check walks the whole ledger, so it runs only when an officer asks (the verify page), not on
every detail view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from api.accounts import audit
from api.accounts.audit import AuditEntry
from api.workspace_db import WorkspaceDb
from evidence.archive.base import Archive, BlobCorruptedError
from marketguard.models import Evidence


@dataclass(slots=True)
class CaptureCheck:
    capture_id: str
    files: list[dict[str, Any]] = field(default_factory=list)  # kind, sha256, ok, error
    ledger: dict[str, Any] | None = None  # VerifyReport.to_dict(); None when unavailable
    ledger_error: str = ""

    @property
    def files_ok(self) -> bool:
        return all(item["ok"] for item in self.files)

    @property
    def ok(self) -> bool:
        return self.files_ok and (self.ledger is None or bool(self.ledger.get("ok")))

    def to_dict(self) -> dict[str, Any]:
        return {
            "capture_id": self.capture_id,
            "ok": self.ok,
            "files_ok": self.files_ok,
            "files": self.files,
            "ledger": self.ledger,
            "ledger_error": self.ledger_error,
        }


def record_check(db: WorkspaceDb, actor: str, check: CaptureCheck) -> None:
    """The result goes to the audit log, so the detail page can show the last check (who,
    when, passed or not) without re-hashing on every view."""
    ledger = check.ledger or {}
    audit.record(
        db,
        actor,
        "evidence.verify",
        f"capture:{check.capture_id}",
        after={
            "ok": check.ok,
            "files_ok": check.files_ok,
            "files": len(check.files),
            "ledger_ok": ledger.get("ok"),
            "problems": len(ledger.get("problems", [])),
            "ledger_error": check.ledger_error,
        },
    )


def last_check(db: WorkspaceDb, capture_id: str) -> AuditEntry | None:
    found = audit.entries(
        db, target=f"capture:{capture_id}", action_prefix="evidence.verify", limit=1
    )
    return found[0] if found else None


def check_capture(archive: Archive, capture: Evidence, *, ledger: bool = True) -> CaptureCheck:
    result = CaptureCheck(capture.capture_id)
    for artifact in capture.artifacts:
        item: dict[str, Any] = {"kind": artifact.kind, "sha256": artifact.sha256, "ok": False}
        try:
            data = archive.read_blob(artifact.sha256)
        except BlobCorruptedError:
            item["error"] = "文件内容与哈希不符（已被改动或损坏）"
        except FileNotFoundError:
            item["error"] = "文件缺失"
        except ValueError as exc:
            item["error"] = f"哈希格式错误: {exc}"
        else:
            item["ok"] = len(data) == artifact.size
            if not item["ok"]:
                item["error"] = f"大小不符：记录 {artifact.size}，实际 {len(data)}"
        result.files.append(item)
    if ledger:
        try:
            from evidence.verify import verify_archive
        except ImportError:
            result.ledger_error = "本版本未提供证据账本校验 (evidence.verify)"
        else:
            try:
                result.ledger = verify_archive(archive, capture_id=capture.capture_id).to_dict()
            except Exception as exc:  # a broken ledger must show as a failure, not a 500
                result.ledger_error = f"账本校验出错: {exc}"
    return result
