"""Site adapters: what a ``crawlers/sites/<site>.yaml`` file says, checked when it is loaded.

Every mistake is reported as ``AdapterError`` naming the file, the field (a dotted path such as
``search.fields.price.regex``) and what is wrong, before any request is made. Unknown keys are
errors too: a typo (``folow: true``) silently ignored would cost an officer a whole pass.
See docs/site-adapters.md for the format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from lxml import etree
from parsel.csstranslator import HTMLTranslator

from crawlers.site_adapter.script_json import PathError, compile_path

SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)
SOURCES = ("css", "xpath", "json", "url_regex", "const")
FIELD_OPTIONS = ("all", "regex", "replace", "join", "default", "exists")
BROWSER_MODES = ("never", "always", "when_missing")

# Fields a search result or a detail page may give, and those a shop page may give.
LISTING_FIELDS = frozenset(
    {
        "listing_id", "url", "title", "price", "currency", "brand", "model", "sku", "gtin",
        "image_urls", "description", "sales", "attributes",
        "shop_id", "shop_name", "shop_url", "location",
    }
)  # fmt: skip
SHOP_FIELDS = frozenset(
    {
        "name", "opened", "shop_age_days", "rating", "licence_number", "licence_shown",
        "phone", "address", "location",
    }
)  # fmt: skip
LIST_FIELDS = frozenset({"image_urls"})

_CSS = HTMLTranslator()
# The EXSLT prefixes parsel offers in XPath (re:test(...), set:distinct(...)).
XPATH_NAMESPACES = {"re": "http://exslt.org/regular-expressions", "set": "http://exslt.org/sets"}


class AdapterError(ValueError):
    """An adapter file that cannot be used: ``file``, ``field`` and what is wrong."""

    def __init__(self, file: str | Path, field: str, problem: str) -> None:
        self.file = str(file)
        self.field = field
        self.problem = problem
        where = f"{self.file}: {field}" if field else self.file
        super().__init__(f"{where}: {problem}")


@dataclass(slots=True, frozen=True)
class FieldSpec:
    """Where one value comes from and how it is cleaned."""

    source: str  # one of SOURCES
    query: str  # the CSS/XPath/JSON path/regex, or the constant
    all: bool = False  # every match (a list) instead of the first
    regex: re.Pattern[str] | None = None  # keep group 1 (or the whole match)
    replace: tuple[tuple[re.Pattern[str], str], ...] = ()
    join: str = " "
    default: str | None = None
    exists: bool = False  # True/False: whether the selector matches anything
    # css/xpath compiled once at load: lxml evaluates it on each page's tree directly, without
    # a parsel Selector per match (that bookkeeping was most of an adapter's parsing time).
    compiled: etree.XPath | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True, frozen=True)
class AttributesSpec:
    """Key/value pairs: rows with a key and a value each, or a JSON object/list of pairs."""

    rows: FieldSpec | None = None
    key: FieldSpec | None = None
    value: FieldSpec | None = None
    json: str = ""


@dataclass(slots=True, frozen=True)
class PageSpec:
    fields: dict[str, FieldSpec]
    attributes: AttributesSpec | None = None
    script: str = ""  # name of the JSON blob that json: paths read


@dataclass(slots=True, frozen=True)
class SearchSpec:
    url: str  # template with {keyword} and optionally {page}, {base_url}
    items: FieldSpec  # css/xpath: item nodes; json: list of item objects
    page: PageSpec  # fields relative to each item
    next_page: FieldSpec | None = None
    first_page: int = 1
    max_pages: int = 1
    keyword_encoding: str = "utf-8"


@dataclass(slots=True, frozen=True)
class DetailSpec:
    page: PageSpec
    follow: bool = True
    structured_data: bool = True  # generic extraction (JSON-LD, ...) under the adapter's fields


@dataclass(slots=True, frozen=True)
class ShopSpec:
    page: PageSpec
    id: FieldSpec | None = None  # from the shop URL; default: the URL itself


@dataclass(slots=True, frozen=True)
class LoginSpec:
    storage_state: Path | None = None  # Playwright storage state JSON (browser requests)
    cookies_file: Path | None = None  # cookies.txt (Netscape) or JSON list (HTTP requests)


@dataclass(slots=True)
class SiteAdapter:
    site: str
    file: Path
    allowed_domains: list[str]
    name: str = ""
    base_url: str = ""
    encoding: str = ""
    robots_obey: bool = True
    browser: str = "never"
    browser_wait_for: str = ""
    proxy: str = ""
    login: LoginSpec = field(default_factory=LoginSpec)
    search: SearchSpec | None = None
    detail: DetailSpec | None = None
    shop: ShopSpec | None = None
    keywords: list[str] = field(default_factory=list)
    concurrency: int | None = None  # parallel requests per domain (default: the pass's)
    delay: float | None = None  # seconds between requests per domain (AutoThrottle may add)

    def download_slots(self) -> dict[str, dict[str, float]]:
        """Per-host limits for Scrapy's DOWNLOAD_SLOTS, one slot per allowed domain."""
        limits: dict[str, float] = {}
        if self.concurrency is not None:
            limits["concurrency"] = self.concurrency
        if self.delay is not None:
            limits["delay"] = self.delay
        return {domain: dict(limits) for domain in self.allowed_domains} if limits else {}

    def allows(self, url: str) -> bool:
        """True when ``url`` is on one of the adapter's domains (subdomains included)."""
        return bool(self.domain_of(url))

    def domain_of(self, url: str) -> str:
        """The allowed domain ``url`` belongs to, or "" when it is offsite."""
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower().rstrip(".")
        except ValueError:
            return ""
        if parts.scheme not in ("http", "https"):
            return ""
        return next((d for d in self.allowed_domains if host == d or host.endswith("." + d)), "")


# --- loading --------------------------------------------------------------------------------------
def load_adapter(path: str | Path) -> SiteAdapter:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AdapterError(path, "", f"cannot read the file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise AdapterError(path, "", "the file is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise AdapterError(path, "", f"not valid YAML{where}: {exc}") from exc
    return parse_adapter(raw, path)


def parse_adapter(raw: Any, path: str | Path = "<adapter>") -> SiteAdapter:
    return _Reader(Path(path)).adapter(raw)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, where: str, problem: str) -> AdapterError:
        return AdapterError(self.path, where, problem)

    def mapping(self, value: Any, where: str, allowed: set[str] | frozenset[str]) -> dict:
        if not isinstance(value, dict):
            raise self.error(where, f"must be a mapping, not {_kind(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                raise self.error(
                    f"{where}.{key}" if where else str(key),
                    f"unknown key (allowed: {', '.join(sorted(allowed))})",
                )
        return value

    def string(self, value: Any, where: str, *, required: bool = False) -> str:
        if value is None or value == "":
            if required:
                raise self.error(where, "is required")
            return ""
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.error(where, f"must be text, not {_kind(value)}")
        return str(value)

    def boolean(self, value: Any, where: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(where, f"must be true or false, not {value!r}")
        return value

    def integer(self, value: Any, where: str, default: int, minimum: int) -> int:
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.error(where, f"must be a whole number >= {minimum}, not {value!r}")
        return value

    def number(self, value: Any, where: str) -> float | None:
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise self.error(where, f"must be a number of seconds >= 0, not {value!r}")
        return float(value)

    def regex(self, value: Any, where: str) -> re.Pattern[str]:
        text = self.string(value, where, required=True)
        try:
            return re.compile(text)
        except re.error as exc:
            raise self.error(where, f"invalid regular expression: {exc}") from exc

    # --- the document ---------------------------------------------------------------------------
    def adapter(self, raw: Any) -> SiteAdapter:
        if raw is None:
            raise self.error("", "the file is empty")
        top = {
            "site", "name", "allowed_domains", "base_url", "encoding", "robots_obey", "browser",
            "browser_wait_for", "proxy", "login", "search", "detail", "shop", "keywords",
            "concurrency", "delay",
        }  # fmt: skip
        data = self.mapping(raw, "", top)
        site = self.string(data.get("site"), "site", required=True)
        if not SITE_NAME.match(site):
            raise self.error("site", f"{site!r}: use lower-case letters, digits, - and _")
        if site != self.path.stem and self.path.suffix in (".yaml", ".yml"):
            raise self.error("site", f"{site!r} differs from the file name {self.path.name!r}")
        domains = data.get("allowed_domains")
        if not isinstance(domains, list) or not domains:
            raise self.error("allowed_domains", "is required: a list of domain names")
        allowed = []
        for n, domain in enumerate(domains):
            text = self.string(domain, f"allowed_domains[{n}]", required=True).lower().strip(".")
            if "://" in text or "/" in text or not DOMAIN.match(text):
                raise self.error(f"allowed_domains[{n}]", f"{domain!r} is not a domain name")
            allowed.append(text)
        encoding = self.string(data.get("encoding"), "encoding")
        if encoding:
            _check_encoding(self, encoding, "encoding")
        browser = data.get("browser", "never")
        if browser is True:
            browser = "always"
        elif browser is False:
            browser = "never"
        if browser not in BROWSER_MODES:
            raise self.error("browser", f"{browser!r}: use one of {', '.join(BROWSER_MODES)}")
        wait_for = self.string(data.get("browser_wait_for"), "browser_wait_for")
        if wait_for:
            self.css(wait_for, "browser_wait_for")
        proxy = self.string(data.get("proxy"), "proxy")
        if proxy and not re.match(r"^(https?|socks5)://[^/\s]+/?$", proxy):
            raise self.error("proxy", f"{proxy!r}: expected http://[user:pass@]host:port")
        base_url = self.string(data.get("base_url"), "base_url").rstrip("/")
        if base_url and not re.match(r"^https?://[^/\s]+", base_url):
            raise self.error("base_url", f"{base_url!r} is not an http(s) URL")
        keywords = data.get("keywords") or []
        if not isinstance(keywords, list):
            raise self.error("keywords", "must be a list of search terms")
        adapter = SiteAdapter(
            site=site,
            file=self.path,
            allowed_domains=allowed,
            name=self.string(data.get("name"), "name"),
            base_url=base_url,
            encoding=encoding,
            robots_obey=self.boolean(data.get("robots_obey"), "robots_obey", True),
            browser=browser,
            browser_wait_for=wait_for,
            proxy=proxy,
            login=self.login(data.get("login")),
            search=self.search(data["search"]) if data.get("search") is not None else None,
            detail=self.detail(data["detail"]) if data.get("detail") is not None else None,
            shop=self.shop(data["shop"]) if data.get("shop") is not None else None,
            keywords=[self.string(k, f"keywords[{n}]") for n, k in enumerate(keywords)],
            concurrency=self.integer(data.get("concurrency"), "concurrency", 0, 1) or None,
            delay=self.number(data.get("delay"), "delay"),
        )
        if adapter.search is None and adapter.detail is None:
            raise self.error(
                "search", "an adapter needs a search section, a detail section or both"
            )
        if base_url and not adapter.allows(base_url):
            raise self.error("base_url", f"{base_url!r} is outside allowed_domains")
        if adapter.search and "{base_url}" in adapter.search.url and not base_url:
            raise self.error("search.url", "uses {base_url} but base_url is not set")
        follows = adapter.detail is not None and adapter.detail.follow
        if adapter.search and follows and "url" not in adapter.search.page.fields:
            raise self.error("search.fields.url", "is required to follow into detail pages")
        if adapter.search and not follows:
            fields = adapter.search.page.fields
            if "title" not in fields:
                raise self.error(
                    "search.fields.title", "is required when detail pages are not followed"
                )
            if "url" not in fields and "listing_id" not in fields:
                raise self.error("search.fields", "needs url or listing_id to identify listings")
        if adapter.shop and not _has_field(adapter, "shop_url"):
            raise self.error("shop", "shop pages need a shop_url field in search or detail")
        return adapter

    def login(self, raw: Any) -> LoginSpec:
        if raw is None:
            return LoginSpec()
        data = self.mapping(raw, "login", {"storage_state", "cookies_file"})
        paths: dict[str, Path | None] = {}
        for key in ("storage_state", "cookies_file"):
            text = self.string(data.get(key), f"login.{key}")
            if not text:
                paths[key] = None
                continue
            path = Path(text).expanduser()
            if not path.is_absolute():
                path = self.path.parent / path  # relative to the adapter file
            if not path.is_file():
                raise self.error(f"login.{key}", f"file not found: {path}")
            paths[key] = path
        if paths["cookies_file"] is not None:
            from crawlers.site_adapter.login import CookieFileError, load_cookies

            try:
                load_cookies(paths["cookies_file"])
            except (CookieFileError, UnicodeDecodeError) as exc:
                raise self.error("login.cookies_file", str(exc)) from exc
        return LoginSpec(**paths)

    def search(self, raw: Any) -> SearchSpec:
        allowed = {
            "url", "items", "fields", "attributes", "next_page", "first_page", "max_pages",
            "keyword_encoding", "script",
        }  # fmt: skip
        data = self.mapping(raw, "search", allowed)
        url = self.string(data.get("url"), "search.url", required=True)
        if "{keyword}" not in url:
            raise self.error("search.url", "must contain {keyword}")
        unknown = set(re.findall(r"{([^{}]*)}", url)) - {"keyword", "page", "base_url"}
        if unknown:
            raise self.error("search.url", f"unknown placeholder {{{sorted(unknown)[0]}}}")
        if not url.startswith(("http://", "https://", "{base_url}")):
            raise self.error("search.url", "must start with http(s):// or {base_url}")
        if data.get("items") is None:
            raise self.error("search.items", "is required: which nodes or JSON list are results")
        items = self.field(data["items"], "search.items", item_level=True)
        if items.source not in ("css", "xpath", "json"):
            raise self.error("search.items", "must be css, xpath or json")
        script = self.string(data.get("script"), "search.script")
        if items.source == "json" and not script:
            raise self.error("search.script", "is required when search.items uses json")
        page = self.page(data, "search", LISTING_FIELDS, json_items=items.source == "json")
        if not page.fields:
            raise self.error("search.fields", "is required: at least url or title")
        encoding = self.string(data.get("keyword_encoding"), "search.keyword_encoding") or "utf-8"
        _check_encoding(self, encoding, "search.keyword_encoding")
        next_page = None
        if data.get("next_page") is not None:
            next_page = self.field(data["next_page"], "search.next_page")
        return SearchSpec(
            url=url,
            items=items,
            page=page,
            next_page=next_page,
            first_page=self.integer(data.get("first_page"), "search.first_page", 1, 0),
            max_pages=self.integer(data.get("max_pages"), "search.max_pages", 1, 1),
            keyword_encoding=encoding,
        )

    def detail(self, raw: Any) -> DetailSpec:
        data = self.mapping(
            raw, "detail", {"follow", "structured_data", "fields", "attributes", "script"}
        )
        return DetailSpec(
            page=self.page(data, "detail", LISTING_FIELDS),
            follow=self.boolean(data.get("follow"), "detail.follow", True),
            structured_data=self.boolean(
                data.get("structured_data"), "detail.structured_data", True
            ),
        )

    def shop(self, raw: Any) -> ShopSpec:
        data = self.mapping(raw, "shop", {"id", "fields", "attributes", "script"})
        if data.get("attributes") is not None:
            raise self.error("shop.attributes", "shop pages have no attributes")
        shop_id = self.field(data["id"], "shop.id") if data.get("id") is not None else None
        if shop_id is not None and shop_id.source != "url_regex":
            raise self.error("shop.id", "must be url_regex (read from the shop's URL)")
        return ShopSpec(page=self.page(data, "shop", SHOP_FIELDS), id=shop_id)

    def page(
        self, data: dict, where: str, names: frozenset[str], *, json_items: bool = False
    ) -> PageSpec:
        raw_fields = data.get("fields") or {}
        if not isinstance(raw_fields, dict):
            raise self.error(f"{where}.fields", f"must be a mapping, not {_kind(raw_fields)}")
        script = self.string(data.get("script"), f"{where}.script")
        fields: dict[str, FieldSpec] = {}
        for name, spec in raw_fields.items():
            at = f"{where}.fields.{name}"
            if name not in names:
                raise self.error(at, f"unknown field (allowed: {', '.join(sorted(names))})")
            if name == "attributes":
                raise self.error(at, f"use {where}.attributes (rows, key, value or json)")
            fields[name] = self.field(spec, at, item_level=json_items)
            if fields[name].source == "json" and not script and not json_items:
                raise self.error(at, f"json paths need {where}.script (the blob's name)")
            if json_items and fields[name].source in ("css", "xpath"):
                raise self.error(at, "results come from JSON: use json paths, not css/xpath")
        attributes = None
        if data.get("attributes") is not None:
            attributes = self.attributes(data["attributes"], f"{where}.attributes")
            if attributes.json and not script and not json_items:
                raise self.error(f"{where}.attributes.json", f"json paths need {where}.script")
        return PageSpec(fields=fields, attributes=attributes, script=script)

    def attributes(self, raw: Any, where: str) -> AttributesSpec:
        data = self.mapping(raw, where, {"rows", "key", "value", "json"})
        if data.get("json") is not None:
            if set(data) != {"json"}:
                raise self.error(where, "use either json or rows/key/value, not both")
            path = self.string(data["json"], f"{where}.json", required=True)
            self.path_expression(path, f"{where}.json")
            return AttributesSpec(json=path)
        missing = [k for k in ("rows", "key", "value") if data.get(k) is None]
        if missing:
            raise self.error(f"{where}.{missing[0]}", "is required (or give json)")
        rows = self.field(data["rows"], f"{where}.rows")
        if rows.source not in ("css", "xpath"):
            raise self.error(f"{where}.rows", "must be css or xpath (or use json: for JSON pairs)")
        return AttributesSpec(
            rows=rows,
            key=self.field(data["key"], f"{where}.key"),
            value=self.field(data["value"], f"{where}.value"),
        )

    def field(self, raw: Any, where: str, *, item_level: bool = False) -> FieldSpec:
        if isinstance(raw, str):
            raw = {"css": raw}
        if not isinstance(raw, dict):
            raise self.error(where, f"must be a CSS selector or a mapping, not {_kind(raw)}")
        self.mapping(raw, where, set(SOURCES) | set(FIELD_OPTIONS))
        given = [s for s in SOURCES if s in raw]
        if len(given) != 1:
            found = ", ".join(given) or "none"
            raise self.error(where, f"needs exactly one of {', '.join(SOURCES)} (found {found})")
        source = given[0]
        query = self.string(raw[source], f"{where}.{source}", required=source != "const")
        compiled = None
        if source in ("css", "xpath"):
            compiled = self.selector(source, query, f"{where}.{source}")
        elif source == "json":
            self.path_expression(query, f"{where}.json")
        elif source == "url_regex":
            self.regex(query, f"{where}.url_regex")
        regex = self.regex(raw["regex"], f"{where}.regex") if "regex" in raw else None
        replace: list[tuple[re.Pattern[str], str]] = []
        if "replace" in raw:
            pairs = raw["replace"]
            if not isinstance(pairs, list):
                raise self.error(f"{where}.replace", "must be a list of [pattern, replacement]")
            for n, pair in enumerate(pairs):
                at = f"{where}.replace[{n}]"
                if not isinstance(pair, list) or len(pair) != 2:
                    raise self.error(at, "must be a [pattern, replacement] pair")
                replace.append((self.regex(pair[0], at), self.string(pair[1], at)))
        default = raw.get("default")
        return FieldSpec(
            source=source,
            query=query,
            all=self.boolean(raw.get("all"), f"{where}.all", False),
            regex=regex,
            replace=tuple(replace),
            join=self.string(raw.get("join"), f"{where}.join") or " ",
            default=None if default is None else self.string(default, f"{where}.default"),
            exists=self.boolean(raw.get("exists"), f"{where}.exists", False),
            compiled=compiled,
        )

    def css(self, query: str, where: str) -> None:
        try:
            _CSS.css_to_xpath(query)
        except Exception as exc:  # cssselect raises several error types
            raise self.error(where, f"invalid CSS selector {query!r}: {exc}") from exc

    def selector(self, source: str, query: str, where: str) -> etree.XPath:
        if source == "css":
            self.css(query, where)
        try:
            return compile_selector(source, query)
        except etree.XPathSyntaxError as exc:
            raise self.error(where, f"invalid XPath {query!r}: {exc}") from exc

    def path_expression(self, query: str, where: str) -> None:
        try:
            compile_path(query)
        except PathError as exc:
            raise self.error(where, f"invalid JSON path: {exc}") from exc


def compile_selector(source: str, query: str) -> etree.XPath:
    """A CSS selector (with parsel's ``::text`` and ``::attr(x)``) or an XPath, compiled."""
    expression = _CSS.css_to_xpath(query) if source == "css" else query
    return etree.XPath(expression, namespaces=XPATH_NAMESPACES, smart_strings=False)


def _check_encoding(reader: _Reader, name: str, where: str) -> None:
    import codecs

    try:
        codecs.lookup(name)
    except LookupError as exc:
        raise reader.error(where, f"unknown encoding {name!r}") from exc


def _has_field(adapter: SiteAdapter, name: str) -> bool:
    pages = [s.page for s in (adapter.search, adapter.detail) if s is not None]
    return any(name in page.fields for page in pages)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), type(value).__name__
    )
