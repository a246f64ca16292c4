"""Turn a page's bytes into text whatever its charset header claims.

Chinese shops still serve GBK/GB18030, often with a header that says UTF-8 (the web server's
default) or none at all, with the real charset only in ``<meta>``. Scrapy trusts the header, which
turns such a page into mojibake. Here, in order:

1. the site adapter's ``encoding`` override (the officer knows better than the server);
2. a byte-order mark;
3. a body that is valid UTF-8 and not plain ASCII *is* UTF-8: GBK text essentially never forms
   valid UTF-8 sequences, so a UTF-8 body wins over a header or ``<meta>`` that says otherwise;
4. the header's charset, then ``<meta>``'s, if the body decodes under it without error;
5. GB18030 (a superset of GBK and GB2312), then the declared charset with replacement characters,
   the count of which is reported as a problem instead of failing the page.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)


@dataclass(slots=True, frozen=True)
class DecodedPage:
    text: str
    encoding: str  # Python codec name actually used
    source: str  # "override", "bom", "utf-8 body", "header", "meta", "guess"
    problem: str = ""  # set when bytes had to be replaced


def decode_html(
    body: bytes, content_type: str | bytes | None = None, *, override: str = ""
) -> DecodedPage:
    if override:
        codec = _codec(override)
        if codec is None:
            raise LookupError(f"unknown encoding {override!r}")
        return _lenient(body, codec, "override")
    bom_encoding, bom = read_bom(body)
    if bom_encoding:
        codec = _codec(bom_encoding) or "utf-8"
        return _lenient(body[len(bom) :], codec, "bom")
    if not body.isascii() and _decodes(body, "utf-8"):
        return DecodedPage(body.decode("utf-8"), "utf-8", "utf-8 body")
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    declared: list[tuple[str, str]] = []
    if content_type and (header := http_content_type_encoding(content_type)):
        declared.append((header, "header"))
    if meta := html_body_declared_encoding(body):
        declared.append((meta, "meta"))
    for name, source in declared:
        codec = _codec(name)
        if codec and _decodes(body, codec):
            return DecodedPage(body.decode(codec), codec, source)
    if _decodes(body, "gb18030"):
        return DecodedPage(body.decode("gb18030"), "gb18030", "guess")
    fallback = next((c for n, _ in declared if (c := _codec(n))), "utf-8")
    return _lenient(body, fallback, "guess")


def _codec(name: str) -> str | None:
    resolved = resolve_encoding(name)  # maps gbk/gb2312 to gb18030, latin-1 to cp1252, ...
    if not resolved:
        return None
    try:
        return codecs.lookup(resolved).name
    except LookupError:
        return None


def _decodes(body: bytes, codec: str) -> bool:
    try:
        body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _lenient(body: bytes, codec: str, source: str) -> DecodedPage:
    text = body.decode(codec, errors="replace")
    bad = text.count("\ufffd")
    problem = f"{bad} bytes not valid {codec}, replaced" if bad else ""
    return DecodedPage(text, codec, source, problem)
