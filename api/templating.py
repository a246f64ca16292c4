"""The Jinja2 environment of the workspace: autoescaping on, and the filters templates use.

Seller text reaches the page only through autoescaped expressions. URLs from sellers become
links only through ``safe_href``, which passes http(s) URLs and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates

from api.i18n import label, t

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LINK_SCHEMES = frozenset({"http", "https"})


def safe_href(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL, else None (the template then shows text).

    ``urlsplit`` drops the tabs and newlines a browser would also ignore, so ``java\\tscript:``
    is judged as the browser would read it.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in LINK_SCHEMES or not parts.netloc:
        return None
    return url.strip()


def listing_path(platform: str, listing_id: str) -> str:
    return f"/listings/{quote(platform, safe='')}/{quote(listing_id, safe='')}"


def query_string(params: Mapping[str, object]) -> str:
    """``?a=1&b=2`` from the non-empty values, or "" when there are none."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""


def format_price(price: object, currency: str = "CNY") -> str:
    if price in (None, ""):
        return "—"
    try:
        amount = f"{Decimal(str(price)):,.2f}"
    except InvalidOperation:
        amount = str(price)
    return f"¥{amount}" if currency == "CNY" else f"{amount} {currency}"


def format_size(size: int) -> str:
    """Exact byte count: an evidence record states sizes exactly, not rounded."""
    return f"{size:,} 字节"


def json_text(value: object) -> str:
    """JSON as readable text (Chinese as is); the template escapes it like any other text."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def make_templates(
    category_names: Mapping[str, str], timezone: str = "Asia/Shanghai"
) -> Jinja2Templates:
    zone = ZoneInfo(timezone)

    def category_name(category_id: str) -> str:
        return category_names.get(category_id) or category_id or "未分类"

    def local_time(value: datetime | None) -> str:
        if value is None:
            return "—"
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every template, whatever its file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        json_text=json_text,
        safe_href=safe_href,
        local_time=local_time,
        price=format_price,
        size=format_size,
    )
    env.globals.update(
        t=t,
        label=label,
        listing_path=listing_path,
        query_string=query_string,
        category_name=category_name,
    )
    return Jinja2Templates(env=env, context_processors=[_account_context])


def _account_context(request: Request) -> dict[str, Any]:
    """The signed-in user and the session's CSRF token, set by ``current_user`` (empty on the
    login page)."""
    return {
        "current_user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
    }
