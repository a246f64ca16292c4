"""RFC 3161 trusted timestamps from a configured timestamp authority (TSA), stdlib only.

The request is a few dozen bytes of DER built by hand (version 1, SHA-256 message imprint, a
random nonce, certReq so the reply carries the TSA's certificate); it is POSTed as
``application/timestamp-query``. The reply (``TimeStampResp``) is kept whole, base64, in the
ledger entry it stamps. Checks here: HTTP status, PKIStatus granted, the imprint and the nonce
present in the reply. The signature is checked with ``openssl ts -verify`` against the
authority's CA certificate (``marketguard evidence verify``, ``verify_export.py``).

Configure with ``MARKETGUARD_TSA_URL`` (and ``MARKETGUARD_TSA_CA``, the authority's CA
certificate in PEM, which exports carry as ``tsa/ca.pem``).
"""

from __future__ import annotations

import base64
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from evidence.verify_export import token_covers

# DER of AlgorithmIdentifier { id-sha256 (2.16.840.1.101.3.4.2.1), NULL }
_SHA256_ALGORITHM = bytes.fromhex("300d06096086480165030402010500")


class TimestampError(Exception):
    """The authority could not be reached or did not grant a valid timestamp."""


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _der_int(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")  # leading 0: positive
    return _der(0x02, raw)


def timestamp_request(sha256_hex: str, nonce: int) -> bytes:
    imprint = _der(0x30, _SHA256_ALGORITHM + _der(0x04, bytes.fromhex(sha256_hex)))
    body = _der_int(1) + imprint + _der_int(nonce) + b"\x01\x01\xff"  # certReq TRUE
    return _der(0x30, body)


def _read_header(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, content start, content length) of the DER element at ``at``."""
    tag = data[at]
    first = data[at + 1]
    if first < 0x80:
        return tag, at + 2, first
    count = first & 0x7F
    return tag, at + 2 + count, int.from_bytes(data[at + 2 : at + 2 + count], "big")


def reply_status(reply: bytes) -> int:
    """PKIStatus of a TimeStampResp: 0 granted, 1 granted with mods, 2+ refused."""
    try:
        tag, start, _ = _read_header(reply, 0)
        inner_tag, inner_start, _ = _read_header(reply, start)
        int_tag, int_start, int_len = _read_header(reply, inner_start)
    except IndexError as exc:
        raise TimestampError("the timestamp reply is truncated") from exc
    if (tag, inner_tag, int_tag) != (0x30, 0x30, 0x02):
        raise TimestampError("the reply is not an RFC 3161 TimeStampResp")
    return int.from_bytes(reply[int_start : int_start + int_len], "big")


def gen_time(reply: bytes) -> str:
    """The token's genTime as written (YYYYMMDDhhmmss[.f]Z): the first GeneralizedTime in the
    reply (certificates use UTCTime until 2050)."""
    at = reply.find(b"\x18")
    while at != -1:
        length = reply[at + 1] if at + 1 < len(reply) else 0
        text = reply[at + 2 : at + 2 + length]
        if 15 <= length <= 24 and text.endswith(b"Z") and text[:14].isdigit():
            return text.decode("ascii")
        at = reply.find(b"\x18", at + 1)
    return ""


@dataclass(slots=True)
class Timestamp:
    sha256: str  # the hash that was stamped
    tsa_url: str
    time: str  # genTime from the token
    token: bytes  # the whole TimeStampResp, DER

    def to_dict(self) -> dict[str, Any]:
        return {
            "standard": "RFC 3161",
            "sha256": self.sha256,
            "tsa_url": self.tsa_url,
            "time": self.time,
            "token": base64.b64encode(self.token).decode("ascii"),
        }


class TimestampAuthority:
    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    def stamp(self, sha256_hex: str) -> Timestamp:
        nonce = secrets.randbits(63)
        request = urllib.request.Request(
            self.url,
            data=timestamp_request(sha256_hex, nonce),
            headers={"Content-Type": "application/timestamp-query"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply = response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise TimestampError(f"timestamp authority {self.url} unreachable: {exc}") from exc
        status = reply_status(reply)
        if status not in (0, 1):
            raise TimestampError(f"timestamp authority {self.url} refused (PKIStatus {status})")
        if not token_covers(reply, sha256_hex):
            raise TimestampError("the timestamp token does not carry the hash that was sent")
        if _der_int(nonce)[2:] not in reply:
            raise TimestampError("the timestamp reply does not echo our nonce (replayed?)")
        return Timestamp(sha256_hex, self.url, gen_time(reply), reply)
