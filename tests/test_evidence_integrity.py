"""Integrity end to end: real captures (Chromium, loopback HTTP) sealed in the ledger of a real
SQLite archive; ``verify`` on the archive and ``verify_export`` on export zips must name each
tampering; RFC 3161 timestamps from a local ``openssl ts`` authority.

One browser serves the module: the captures are made once into a pristine archive, and each
test tampers with its own copy.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from evidence.archive.sqlite import SqliteArchive
from evidence.capture import Capturer
from evidence.export import export, ledger_segment
from evidence.extraction_record import build_record
from evidence.ledger import Ledger, iter_ledger
from evidence.timestamping import TimestampAuthority, TimestampError
from evidence.verify import verify_archive
from evidence.verify_export import verify_zip
from marketguard.models import Listing
from marketguard.settings import Settings
from tests.conftest import run_cli

pytestmark = pytest.mark.browser

if not Path(Settings().chromium).exists():
    pytest.skip("Chromium not installed", allow_module_level=True)


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, "JPEG")
    return buf.getvalue()


PAGES = {
    f"/item/{n}": (
        f"<!doctype html><html><head><meta charset=gbk><title>商品{n} 充电宝</title></head>"
        f"<body style='height:1600px'><h1>商品 {n}：20000mAh 充电宝 3C认证</h1>"
        f"<img src='/img/{n}.jpg'></body></html>"
    ).encode("gbk")
    for n in (1, 2, 3)
}
IMAGES = {f"/img/{n}.jpg": _jpeg((40 * n, 90, 200)) for n in (1, 2, 3)}


def _serve(routes: dict[str, tuple[str, bytes]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            content_type, body = routes.get(self.path, ("text/plain", b"not found"))
            self.send_response(200 if self.path in routes else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    routes = {p: ("text/html; charset=gbk", b) for p, b in PAGES.items()}
    routes |= {p: ("image/jpeg", b) for p, b in IMAGES.items()}
    server = _serve(routes)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def pristine(site: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive with three captures: two of case SH-2026-7, a checkpoint after two."""
    base = site
    home = tmp_path_factory.mktemp("pristine")
    archive = SqliteArchive(home)

    async def capture_all() -> None:
        ledger = Ledger(archive, checkpoint_every=2)
        async with Capturer(
            Settings(), archive.put_blob, investigators=["张三", "李四"], ledger=ledger
        ) as capturer:
            for n, case in ((1, "SH-2026-7"), (2, "SH-2026-7"), (3, "")):
                evidence = await capturer.capture(
                    url=f"{base}/item/{n}",
                    platform="demo",
                    listing_id=str(n),
                    image_urls=[f"/img/{n}.jpg"],
                    case_id=case,
                )
                listing = Listing(platform="demo", listing_id=str(n), url=evidence.url, title="x")
                archive.save_listing(listing, [], evidence)

    asyncio.run(capture_all())
    archive.close()
    return home


@pytest.fixture
def archive(pristine: Path, tmp_path: Path) -> Iterator[SqliteArchive]:
    home = tmp_path / "home"
    shutil.copytree(pristine, home)
    store = SqliteArchive(home)
    yield store
    store.close()


def _capture_ids(archive: SqliteArchive) -> list[str]:
    return archive.capture_ids()


def _untrigger(archive: SqliteArchive) -> sqlite3.Connection:
    """What a tamperer with the file can do: drop the append-only triggers."""
    db = sqlite3.connect(archive.db_path, isolation_level=None)
    db.execute("DROP TRIGGER ledger_no_update")
    db.execute("DROP TRIGGER ledger_no_delete")
    return db


# --- verify on the archive -----------------------------------------------------------------


def test_an_untouched_archive_verifies(archive: SqliteArchive) -> None:
    report = verify_archive(archive)
    assert report.ok, report.problems
    assert report.captures == 3
    kinds = [e.kind for e in iter_ledger(archive)]
    assert kinds == ["capture", "capture", "checkpoint", "capture"]
    # manifest + html, two screenshots, dom, image, wacz per capture
    assert report.files == 3 * 7
    assert report.bytes_hashed > 100_000


def test_one_byte_of_a_screenshot_changed_is_named(archive: SqliteArchive) -> None:
    first, second, _ = _capture_ids(archive)
    shot = archive.get_evidence(second).artifact("screenshot")  # type: ignore[union-attr]
    path = archive.blob_path(shot.sha256)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    report = verify_archive(archive)
    [problem] = report.problems
    assert problem.kind == "altered"
    assert problem.subject == f"screenshot of capture {second}"
    assert hashlib.sha256(data).hexdigest() in problem.detail
    # The other capture is untouched, and --capture says so.
    assert verify_archive(archive, capture_id=first).ok
    assert not verify_archive(archive, capture_id=second).ok


def test_a_deleted_ledger_line_is_named(archive: SqliteArchive) -> None:
    _first, second, _ = _capture_ids(archive)
    with _untrigger(archive) as db:
        db.execute("DELETE FROM ledger WHERE position = 2")
    problems = {(p.kind, p.subject) for p in verify_archive(archive).problems}
    assert ("missing", "ledger entry 2") in problems
    assert ("missing", f"ledger entry of capture {second}") in problems
    # The checkpoint after it still names the deleted entry's hash.
    assert ("altered", "ledger entry 3 (checkpoint)") in problems


def test_two_swapped_ledger_records_are_named(archive: SqliteArchive) -> None:
    with _untrigger(archive) as db:
        rows = dict(db.execute("SELECT position, data FROM ledger WHERE position IN (1, 2)"))
        db.execute("UPDATE ledger SET data = ? WHERE position = 1", (rows[2],))
        db.execute("UPDATE ledger SET data = ? WHERE position = 2", (rows[1],))
    [problem] = verify_archive(archive).problems
    assert problem.kind == "out_of_order"
    assert "position 1 holds entry 2" in problem.detail
    assert "position 2 holds entry 1" in problem.detail


def test_a_missing_file_and_an_edited_manifest_are_named(archive: SqliteArchive) -> None:
    first, _second, third = _capture_ids(archive)
    wacz = archive.get_evidence(first).artifact("wacz")  # type: ignore[union-attr]
    archive.blob_path(wacz.sha256).unlink()
    manifest = archive.get_evidence(third).artifact("metadata")  # type: ignore[union-attr]
    path = archive.blob_path(manifest.sha256)
    path.write_bytes(path.read_bytes().replace(b'"demo"', b'"fake"', 1))
    problems = {(p.kind, p.subject) for p in verify_archive(archive).problems}
    assert problems == {
        ("missing", f"wacz of capture {first}"),
        ("altered", f"manifest of capture {third}"),
    }


def test_cli_verify_exit_status_and_message(archive: SqliteArchive) -> None:
    env = {"MARKETGUARD_HOME": str(archive.home)}
    ok = run_cli("evidence", "verify", env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK: 3 captures, 21 files, 4 ledger entries")
    shot = archive.get_evidence(_capture_ids(archive)[0]).artifact("screenshot")  # type: ignore[union-attr]
    archive.blob_path(shot.sha256).write_bytes(b"not the screenshot")
    bad = run_cli("evidence", "verify", "--json", env=env, timeout=60)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["problems"][0]["subject"].startswith("screenshot of capture ")


def test_cli_capture_then_record_and_verify(site: str, tmp_path: Path) -> None:
    env = {
        "MARKETGUARD_HOME": str(tmp_path / "home"),
        "MARKETGUARD_INVESTIGATORS": "张三,李四",
        "MARKETGUARD_CASE_ID": "",
    }
    done = run_cli(
        "evidence", "capture", f"{site}/item/2", "--case", "HZ-9", "--platform", "demo",
        "--listing-id", "2", "--image", "/img/2.jpg", "--json", env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    evidence = json.loads(done.stdout)
    assert evidence["case_id"] == "HZ-9" and evidence["operator"] == "张三"
    kinds = [a["kind"] for a in evidence["artifacts"]]
    assert kinds == [
        "html", "screenshot", "first_screen", "dom", "image", "wacz", "metadata",
    ]  # fmt: skip
    record = run_cli(
        "evidence", "record", "--case", "HZ-9", str(tmp_path / "r.pdf"),
        "--json", str(tmp_path / "r.json"), env=env, timeout=120,
    )  # fmt: skip
    assert record.returncode == 0, record.stderr
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["case_id"] == "HZ-9" and data["investigators"] == ["张三", "李四"]
    assert data["captures"][0]["capture_id"] == evidence["capture_id"]
    checked = run_cli("evidence", "verify", "--capture", evidence["capture_id"], env=env)
    assert checked.returncode == 0 and checked.stdout.startswith("OK: 1 captures"), checked.stdout
    missing = run_cli("evidence", "export", "--case", "NOPE", str(tmp_path / "x.zip"), env=env)
    assert missing.returncode == 1 and "no captures for case" in missing.stderr


# --- export --------------------------------------------------------------------------------


def _rewrite_zip(src: Path, dst: Path, change: dict[str, bytes | None]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change.get(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


def _resum(files: dict[str, bytes]) -> bytes:
    """A careful tamperer also rewrites SHA256SUMS."""
    return "".join(
        f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(files.items())
    ).encode()


@pytest.fixture
def case_export(archive: SqliteArchive, tmp_path: Path) -> Path:
    out = tmp_path / "SH-2026-7.zip"
    result = export(archive, out, case_id="SH-2026-7", with_pdf=False)
    assert len(result.captures) == 2
    # The case's two captures, linked through to the checkpoint after them.
    assert (result.ledger_from, result.ledger_to) == (1, 3)
    return out


def test_export_verifies_with_sha256sum_and_a_bare_python(case_export: Path) -> None:
    problems, _notes = verify_zip(str(case_export))
    assert problems == [], problems
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(case_export) as zf:
            zf.extractall(tmp)
        sums = subprocess.run(
            ["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=tmp, capture_output=True, text=True
        )
        assert sums.returncode == 0, sums.stdout + sums.stderr
        # Isolated mode, no site-packages, run from an empty folder: nothing of ours.
        bare = subprocess.run(
            [sys.executable, "-I", "-S", "verify_export.py", str(case_export)],
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        assert bare.returncode == 0, bare.stdout + bare.stderr
        assert "export verified" in bare.stdout
        readme = Path(tmp, "README.md").read_text()
        assert "sha256sum -c SHA256SUMS" in readme and "verify_export.py" in readme
        assert sorted(p.name for p in Path(tmp, "captures").iterdir()) == sorted(
            json.loads(Path(tmp, "export.json").read_text())["captures"][i]["capture_id"]
            for i in range(2)
        )


def test_export_tampering_is_named(case_export: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(case_export) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    shot = next(n for n in files if n.endswith("screenshot-full-page.png"))

    # One byte of a screenshot.
    changed = bytearray(files[shot])
    changed[100] ^= 0xFF
    one_byte = tmp_path / "one-byte.zip"
    _rewrite_zip(case_export, one_byte, {shot: bytes(changed)})
    subjects = {(p.kind, p.subject) for p in verify_zip(str(one_byte))[0]}
    assert ("altered", shot) in subjects
    assert any(s.startswith(shot + " (screenshot of capture") for _, s in subjects)

    # A ledger line deleted, SHA256SUMS rewritten to match.
    lines = files["ledger.jsonl"].splitlines(keepends=True)
    ledger = b"".join([lines[0], *lines[2:]])
    deleted = tmp_path / "deleted.zip"
    forged = {**files, "ledger.jsonl": ledger}
    forged.pop("SHA256SUMS")
    _rewrite_zip(case_export, deleted, {"ledger.jsonl": ledger, "SHA256SUMS": _resum(forged)})
    problems = verify_zip(str(deleted))[0]
    assert ("missing", "ledger entry 2") in {(p.kind, p.subject) for p in problems}
    assert any(p.subject.startswith("capture ") and p.kind == "missing" for p in problems)

    # The first line cut off: the segment's start, as export.json states it, is gone.
    cut = b"".join(lines[1:])
    forged = {**files, "ledger.jsonl": cut}
    forged.pop("SHA256SUMS")
    cut_zip = tmp_path / "cut.zip"
    _rewrite_zip(case_export, cut_zip, {"ledger.jsonl": cut, "SHA256SUMS": _resum(forged)})
    subjects = {(p.kind, p.subject) for p in verify_zip(str(cut_zip))[0]}
    assert ("missing", "ledger entry 1") in subjects

    # Two ledger lines swapped.
    swapped = b"".join([lines[1], lines[0], *lines[2:]])
    forged = {**files, "ledger.jsonl": swapped}
    forged.pop("SHA256SUMS")
    swap_zip = tmp_path / "swapped.zip"
    _rewrite_zip(case_export, swap_zip, {"ledger.jsonl": swapped, "SHA256SUMS": _resum(forged)})
    [problem] = verify_zip(str(swap_zip))[0]
    assert problem.kind == "out_of_order"

    # The CLI says the same, with exit status 1.
    cli = run_cli("evidence", "verify-export", str(one_byte), timeout=60)
    assert cli.returncode == 1 and f"FAIL  ALTERED: {shot}" in cli.stdout


def test_export_of_one_capture_with_pdf_records(archive: SqliteArchive, tmp_path: Path) -> None:
    _, _, third = _capture_ids(archive)
    out = tmp_path / "one.zip"
    result = export(archive, out, capture_ids=[third], investigators=["王五", "赵六"])
    # The third capture comes after the checkpoint: its segment runs to the ledger head.
    assert (result.ledger_from, result.ledger_to) == (4, 4)
    assert verify_zip(str(out))[0] == []
    with zipfile.ZipFile(out) as zf:
        pdf = zf.read(f"captures/{third}/extraction-record.pdf")
        record = json.loads(zf.read(f"captures/{third}/extraction-record.json"))
        assert "case-record.pdf" not in zf.namelist()
    assert pdf.startswith(b"%PDF") and b"NotoSerifCJK" in pdf
    assert record["investigators"] == ["王五", "赵六"]
    [capture] = record["captures"]
    assert capture["url"].endswith("/item/3") and capture["ledger"]["seq"] == 4
    names = {f["name"]: f for f in capture["files"]}
    assert {
        "screenshot-full-page.png",
        "screenshot-first-screen.png",
        "page-as-served.html",
        "dom-after-scripts.html",
        "web-archive.wacz",
        "manifest.json",
        "images/01.jpg",
    } == set(names)
    assert names["images/01.jpg"]["sha256"] == hashlib.sha256(IMAGES["/img/3.jpg"]).hexdigest()
    assert names["page-as-served.html"]["sha256"] == hashlib.sha256(PAGES["/item/3"]).hexdigest()
    for step in ("navigated to the URL", "WARC", "screenshots"):
        assert any(step in s for s in capture["procedure"]), step
    env = capture["environment"]
    assert env["browser"].startswith("chromium ") and env["clock_source"] and env["network"]


def test_case_record_names_both_investigators_from_capture_time(archive: SqliteArchive) -> None:
    ids = archive.capture_ids("SH-2026-7")
    record = build_record(archive, ids, case_id="SH-2026-7")
    assert record["investigators"] == ["张三", "李四"]
    assert [c["capture_id"] for c in record["captures"]] == ids
    assert record["captures"][0]["case_id"] == "SH-2026-7"


def test_export_refuses_an_unsealed_or_unknown_capture(archive: SqliteArchive) -> None:
    assert ledger_segment(archive, ["NOPE"]) == ([], ["NOPE"])
    from evidence.export import ExportError

    with pytest.raises(ExportError, match="NOPE"):
        export(archive, archive.home / "x.zip", capture_ids=["NOPE"], with_pdf=False)
    with pytest.raises(ExportError, match="no captures for case"):
        export(archive, archive.home / "x.zip", case_id="NO-SUCH-CASE", with_pdf=False)


# --- RFC 3161 with a local openssl authority -----------------------------------------------

TSA_CONF = """
[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = {dir}
serial = {dir}/serial
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ess_cert_id_alg = sha256
[ tsa_ext ]
extendedKeyUsage = critical,timeStamping
basicConstraints = CA:false
keyUsage = critical,digitalSignature
[ ca_ext ]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A timestamp authority on loopback: a CA, a TSA certificate, `openssl ts -reply`."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("tsa")
    (d / "ts.cnf").write_text(TSA_CONF.format(dir=d))
    (d / "serial").write_text("01\n")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=MarketGuard Test TSA CA", "-config", "ts.cnf",
        "-extensions", "ca_ext", cwd=d,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
        "-subj", "/CN=MarketGuard Test TSA", "-config", "ts.cnf", cwd=d,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.crt", "-days", "2", "-extfile", "ts.cnf",
        "-extensions", "tsa_ext", cwd=d,
    )  # fmt: skip
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers["Content-Length"]))
            with lock, tempfile.TemporaryDirectory() as tmp:
                Path(tmp, "q.tsq").write_bytes(query)
                subprocess.run(
                    ["openssl", "ts", "-reply", "-config", str(d / "ts.cnf"),
                     "-queryfile", "q.tsq", "-signer", str(d / "tsa.crt"),
                     "-inkey", str(d / "tsa.key"), "-out", "r.tsr"],
                    cwd=tmp, check=True, capture_output=True,
                )  # fmt: skip
                reply = Path(tmp, "r.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/tsa", d
    server.shutdown()
    server.server_close()


def test_rfc3161_tokens_from_a_local_authority_verify_with_openssl(
    archive: SqliteArchive, tsa: tuple[str, Path], tmp_path: Path
) -> None:
    url, folder = tsa
    authority = TimestampAuthority(url)
    stamp = authority.stamp("ab" * 32)
    assert stamp.time.endswith("Z") and stamp.time[:4].isdigit()
    (tmp_path / "r.tsr").write_bytes(stamp.token)
    checked = subprocess.run(
        ["openssl", "ts", "-verify", "-digest", "ab" * 32, "-sha256",
         "-in", str(tmp_path / "r.tsr"), "-CAfile", str(folder / "ca.pem")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0 and "Verification: OK" in checked.stdout

    # Re-seal the archive's captures into a fresh ledger with timestamps.
    evidence = [archive.get_evidence(cid) for cid in archive.capture_ids()]
    stamped = SqliteArchive(tmp_path / "stamped")
    for blob in archive.blob_root.rglob("*"):
        if blob.is_file():
            stamped.put_blob(blob.read_bytes())
    ledger = Ledger(stamped, checkpoint_every=0, tsa=authority)
    for ev in evidence:
        stamped.save_listing(
            Listing(platform=ev.platform, listing_id=ev.listing_id, url=ev.url, title="x"), [], ev
        )
        entry = ledger.record_capture(ev)
        assert entry.payload["timestamp"]["sha256"] == ev.artifact("metadata").sha256
    checkpoint = ledger.checkpoint()
    assert (
        checkpoint is not None
        and checkpoint.payload["timestamp"]["sha256"] == (checkpoint.payload["head_hash"])
    )
    ca = (folder / "ca.pem").read_bytes()
    report = verify_archive(stamped, tsa_ca=ca)
    assert report.ok, report.problems
    # A certificate from another authority: every signature is rejected and named.
    other = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null",
         "-subj", "/CN=Someone else", "-days", "1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    wrong = verify_archive(stamped, tsa_ca=other)
    assert {p.subject for p in wrong.problems} == {
        f"timestamp of ledger entry {n}" for n in (1, 2, 3, 4)
    }

    # The export carries the CA certificate, and the bundled checker runs openssl.
    settings = Settings(tsa_ca_file=folder / "ca.pem")
    out = tmp_path / "stamped.zip"
    export(stamped, out, capture_ids=[evidence[0].capture_id], settings=settings, with_pdf=False)
    problems, notes = verify_zip(str(out))
    assert problems == []
    assert any("Verification: OK" in n for n in notes), notes
    stamped.close()


def test_an_unreachable_authority_is_a_clear_error() -> None:
    from tests.conftest import free_port

    with pytest.raises(TimestampError, match="unreachable"):
        TimestampAuthority(f"http://127.0.0.1:{free_port()}/", timeout=2).stamp("00" * 32)
    with pytest.raises(ValueError):
        base64.b64decode("not base64!", validate=True)
