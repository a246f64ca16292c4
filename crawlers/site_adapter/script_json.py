"""JSON that a page embeds in a script tag, and path expressions into it.

Platforms render their search results and item data into the page as a JavaScript object:
``g_page_config = {...};``, ``window.__INITIAL_STATE__ = {...}`` or a
``<script id="__NEXT_DATA__" type="application/json">`` element; mobile APIs answer JSONP
(``mtopjsonp1({...})``) or plain JSON (``@body``). ``find_script_json`` finds the
blob by that name and parses it with ``json.JSONDecoder.raw_decode``, which stops at the end of
the object, so whatever JavaScript follows it on the same line does not matter.

Paths are dotted keys with list indexes: ``props.pageProps.item.price``, ``items[0].title``,
``mods.itemlist.data.auctions[*].raw_title`` (``[*]`` maps over a list).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

_DECODER = json.JSONDecoder()
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]")


class PathError(ValueError):
    """A path expression that cannot be read (reported when an adapter is loaded)."""


class ScriptJsonError(ValueError):
    """The page has no readable JSON blob under the adapter's name."""


@lru_cache(maxsize=256)
def _assignment(name: str) -> re.Pattern[str]:
    # `g_page_config = {`, `window.__INITIAL_STATE__={`, `var __DATA__ = [`, `"__X__": {`,
    # and JSONP: `mtopjsonp1({`
    bare = re.escape(name.removeprefix("window."))
    return re.compile(rf"(?:window\.)?{bare}\s*(?:[=:]|\()\s*(?=[{{\[])")


@lru_cache(maxsize=256)
def _script_by_id(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"<script\b[^>]*\bid=[\"']?{re.escape(name)}[\"']?[^>]*>(.*?)</script>",
        re.DOTALL | re.IGNORECASE,
    )


BODY = "@body"  # the whole response is the JSON (a search API instead of a page)


def find_script_json(text: str, name: str) -> Any:
    """The JSON value the page names ``name`` (script element id, JavaScript variable or JSONP
    callback), or the whole text for ``@body``."""
    if name == BODY:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScriptJsonError(f"the response is not JSON: {exc}") from exc
    by_id = _script_by_id(name).search(text)
    if by_id:
        body = by_id.group(1).strip()
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise ScriptJsonError(f"script #{name} is not JSON: {exc}") from exc
    found = _assignment(name).search(text)
    if not found:
        raise ScriptJsonError(f"no script JSON named {name!r} on the page")
    try:
        value, _ = _DECODER.raw_decode(text, found.end())
    except json.JSONDecodeError as exc:
        raise ScriptJsonError(f"{name} is not JSON: {exc.msg} at char {exc.pos}") from exc
    return value


@lru_cache(maxsize=1024)
def compile_path(path: str) -> tuple[str | int, ...]:
    """``a.b[0].c`` -> ``("a", "b", 0, "c")``; ``"*"`` for ``[*]``. Raises PathError."""
    if not path or not path.strip():
        raise PathError("empty path")
    segments: list[str | int] = []
    position = 0
    text = path.strip()
    while position < len(text):
        if text[position] == ".":
            position += 1
            if position >= len(text) or text[position] in ".[":
                raise PathError(f"empty key in {path!r} at {position}")
            continue
        match = _SEGMENT.match(text, position)
        if not match:
            raise PathError(f"cannot read {path!r} at {position}: {text[position:]!r}")
        key, index = match.groups()
        if key is not None:
            segments.append(key)
        else:
            segments.append("*" if index == "*" else int(index))
        position = match.end()
    return tuple(segments)


def resolve_path(value: Any, path: str) -> Any:
    """Follow ``path`` into ``value``; None when any step is missing."""
    return _walk(value, compile_path(path))


def _walk(value: Any, segments: tuple[str | int, ...]) -> Any:
    for position, segment in enumerate(segments):
        if value is None:
            return None
        if segment == "*":
            if not isinstance(value, list):
                return None
            rest = segments[position + 1 :]
            return [v for v in (_walk(item, rest) for item in value) if v is not None]
        if isinstance(segment, int):
            value = value[segment] if isinstance(value, list) and segment < len(value) else None
        elif isinstance(value, dict):
            value = value.get(segment)
        else:
            return None
    return value
