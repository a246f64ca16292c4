"""Capture ids that sort by time (ULID layout), so a folder listing reads in capture order."""

from __future__ import annotations

import secrets
from datetime import datetime

from marketguard.models import utcnow

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_capture_id(at: datetime | None = None) -> str:
    """26 characters: 48 bits of Unix milliseconds, then 80 random bits, Crockford base32."""
    millis = int((at or utcnow()).timestamp() * 1000)
    value = (millis << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
