"""Logged-in crawling and proxies, per site.

Some platforms show prices or shop facts only to a logged-in visitor. An officer logs in once in
a real browser and saves either Playwright's storage state (``context.storage_state(path=...)``)
or a cookie file (``cookies.txt`` in the Netscape format most export tools write, or a JSON list
of ``{name, value, domain, path}``). HTTP requests then carry a ``Cookie`` header for the
cookies whose domain matches; browser requests run in a Playwright context of their own, created
with the storage state (or the cookies turned into one) and the site's proxy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from crawlers.site_adapter.spec import LoginSpec


class CookieFileError(ValueError):
    pass


def load_cookies(path: Path) -> list[dict[str, Any]]:
    """Cookies from a Netscape cookies.txt, a JSON list or a Playwright storage state."""
    text = path.read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise CookieFileError(f"{path}: not valid JSON: {exc}") from exc
        cookies = data.get("cookies", []) if isinstance(data, dict) else data
        out = []
        for n, cookie in enumerate(cookies):
            if not isinstance(cookie, dict) or not cookie.get("name") or "domain" not in cookie:
                raise CookieFileError(f"{path}: cookie {n} needs name, value and domain")
            out.append(
                {
                    "name": str(cookie["name"]),
                    "value": str(cookie.get("value", "")),
                    "domain": str(cookie["domain"]),
                    "path": str(cookie.get("path") or "/"),
                }
            )
        return out
    cookies = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#HttpOnly_"):
            line = line.removeprefix("#HttpOnly_")
        elif not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 7:
            raise CookieFileError(f"{path}:{number}: expected 7 tab-separated columns")
        domain, _subdomains, cookie_path, _secure, _expires, name, value = parts
        cookies.append({"name": name, "value": value, "domain": domain, "path": cookie_path})
    return cookies


def cookie_header(cookies: list[dict[str, Any]], url: str) -> str:
    """The ``Cookie`` header value for ``url`` (domain and path matched, no expiry check)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path) or "/"
    pairs = []
    for cookie in cookies:
        domain = cookie["domain"].lower().lstrip(".")
        if (host == domain or host.endswith("." + domain)) and path.startswith(cookie["path"]):
            pairs.append(f"{cookie['name']}={cookie['value']}")
    return "; ".join(pairs)


def browser_context_kwargs(login: LoginSpec, proxy: str) -> dict[str, Any]:
    """Keyword arguments of the site's own Playwright browser context."""
    kwargs: dict[str, Any] = {}
    if login.storage_state is not None:
        kwargs["storage_state"] = str(login.storage_state)
    elif login.cookies_file is not None:
        cookies = [
            {**c, "expires": -1, "httpOnly": False, "secure": False, "sameSite": "Lax"}
            for c in load_cookies(login.cookies_file)
        ]
        kwargs["storage_state"] = {"cookies": cookies, "origins": []}
    if proxy:
        kwargs["proxy"] = playwright_proxy(proxy)
    return kwargs


def playwright_proxy(proxy: str) -> dict[str, str]:
    """``http://user:pass@host:port`` -> Playwright's ``{"server", "username", "password"}``."""
    parts = urlsplit(proxy)
    server = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    out = {"server": server}
    if parts.username:
        out["username"] = unquote(parts.username)
        out["password"] = unquote(parts.password or "")
    return out
