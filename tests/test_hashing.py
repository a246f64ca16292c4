from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from evidence.hashing import sha256_bytes, sha256_file

# Published test vectors (FIPS 180-2 examples), so the functions are checked against the
# standard itself rather than against hashlib.
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
MILLION_A = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"


def test_sha256_bytes_matches_standard_vectors() -> None:
    assert sha256_bytes(b"") == EMPTY
    assert sha256_bytes(b"abc") == ABC
    assert sha256_bytes(b"a" * 1_000_000) == MILLION_A


def test_sha256_bytes_is_lowercase_hex_of_64_chars() -> None:
    h = sha256_bytes("充电宝".encode("gbk"))
    assert len(h) == 64
    assert h == h.lower()
    int(h, 16)


@pytest.mark.parametrize("chunk", [7, 4096, 1 << 20, 1 << 22])
def test_sha256_file_streams_in_any_chunk_size(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "million-a.bin"
    path.write_bytes(b"a" * 1_000_000)
    assert sha256_file(path, chunk=chunk) == MILLION_A


def test_sha256_file_byte_by_byte(tmp_path: Path) -> None:
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    assert sha256_file(path, chunk=1) == ABC


def test_sha256_file_of_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert sha256_file(path) == EMPTY


def test_sha256_file_rejects_non_positive_chunk(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="chunk"):
        sha256_file(path, chunk=0)


def test_sha256_file_missing_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sha256_file(tmp_path / "absent")


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="coreutils sha256sum not installed")
def test_sha256_file_agrees_with_sha256sum(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes("<title>儿童安全座椅</title>".encode("gbk") * 1000)
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    assert sha256_file(path, chunk=1000) == out.stdout.split()[0]
