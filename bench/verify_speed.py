"""``marketguard evidence verify`` in MB hashed per second, against ``sha256sum`` over the very
same blob files in the same run (the floor: one C hashing loop, no chain or manifests).

The archive is a real SQLite archive filled with captures of realistic sizes (incompressible
bytes: screenshots, WACZ, images, HTML, DOM, manifest), each sealed in the ledger. Both runs
read from the page cache (the archive was just written), so this measures hashing and
bookkeeping, not the disk.

    python -m bench verify [captures]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import save
from evidence.archive.sqlite import SqliteArchive
from evidence.hashing import sha256_file
from evidence.ledger import Ledger
from evidence.verify import verify_archive
from marketguard.models import Artifact, Evidence, Listing

SIZES = {
    "html": 48_000,
    "screenshot": 450_000,
    "first_screen": 180_000,
    "dom": 60_000,
    "wacz": 900_000,
    "image": 120_000,
}
IMAGES = 4


def _fill(archive: SqliteArchive, captures: int) -> int:
    ledger = Ledger(archive)
    total = 0
    for n in range(captures):
        artifacts = []
        for kind, size in SIZES.items():
            for _ in range(IMAGES if kind == "image" else 1):
                data = os.urandom(size)
                artifacts.append(
                    Artifact(kind, "application/octet-stream", archive.put_blob(data), size)
                )
                total += size
        manifest = json.dumps({"artifacts": [a.to_dict() for a in artifacts]}).encode()
        artifacts.append(
            Artifact("metadata", "application/json", archive.put_blob(manifest), len(manifest))
        )
        total += len(manifest)
        evidence = Evidence(
            capture_id=f"BENCH{n:06d}", platform="bench", listing_id=str(n), url="http://x/",
            artifacts=artifacts,
        )  # fmt: skip
        listing = Listing(platform="bench", listing_id=str(n), url="http://x/", title="x")
        archive.save_listing(listing, [], evidence)
        ledger.record_capture(evidence)
    return total


def run(captures: int = 100) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        archive = SqliteArchive(Path(tmp))
        total = _fill(archive, captures)
        files = [str(p) for p in archive.blob_root.rglob("*") if p.is_file()]
        started = time.perf_counter()
        subprocess.run(["sha256sum", *files], check=True, capture_output=True)
        floor = time.perf_counter() - started
        started = time.perf_counter()
        for name in files:
            sha256_file(Path(name))
        plain = time.perf_counter() - started
        report = verify_archive(archive)
        archive.close()
    assert report.ok, report.problems
    mb = report.bytes_hashed / 1e6
    result = {
        "captures": captures,
        "ledger_entries": report.ledger_entries,
        "files": report.files,
        "mb": round(mb, 1),
        "verify": {"seconds": round(report.seconds, 2), "mb_per_s": round(mb / report.seconds, 1)},
        "sha256sum": {"seconds": round(floor, 2), "mb_per_s": round(total / 1e6 / floor, 1)},
        "hash_files_only": {
            "seconds": round(plain, 2),
            "mb_per_s": round(total / 1e6 / plain, 1),
        },
        "load": os.getloadavg()[0],
    }
    result["ratio"] = round(result["verify"]["mb_per_s"] / result["sha256sum"]["mb_per_s"], 2)
    result["ratio_to_hash_only"] = round(
        result["verify"]["mb_per_s"] / result["hash_files_only"]["mb_per_s"], 2
    )
    save("verify", result)
    return result


def report(result: dict[str, Any]) -> str:
    v, s, h = result["verify"], result["sha256sum"], result["hash_files_only"]
    return (
        f"evidence verify over {result['captures']} captures ({result['files']} files,"
        f" {result['mb']} MB, {result['ledger_entries']} ledger entries):\n"
        f"  marketguard evidence verify: {v['mb_per_s']} MB/s ({v['seconds']} s)\n"
        f"  sha256sum, same files:       {s['mb_per_s']} MB/s ({s['seconds']} s)\n"
        f"  hashlib over the files only: {h['mb_per_s']} MB/s ({h['seconds']} s)\n"
        f"  ratio {result['ratio']}x to sha256sum, {result['ratio_to_hash_only']}x to hashing only"
    )


if __name__ == "__main__":
    print(report(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100)))
