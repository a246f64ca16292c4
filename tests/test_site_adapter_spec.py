"""Adapter files are validated on load: every mistake names the file, the field and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crawlers.site_adapter import AdapterError, load_adapter, load_site, site_files
from crawlers.site_adapter.registry import BUNDLED, adapter_for_url

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sites"

GOOD = {
    "site": "shop",
    "allowed_domains": ["shop.example.cn"],
    "base_url": "https://shop.example.cn",
    "search": {
        "url": "{base_url}/s?q={keyword}&p={page}",
        "items": {"css": "li.item"},
        "fields": {"url": "a::attr(href)", "title": "a::text", "price": ".price::text"},
    },
    "detail": {"fields": {"title": "h1::text"}},
}


def write(tmp_path: Path, data: object, name: str = "shop.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True))
    return path


def broken(tmp_path: Path, change: dict[str, object]) -> AdapterError:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    path = write(tmp_path, data)
    with pytest.raises(AdapterError) as caught:
        load_adapter(path)
    assert caught.value.file == str(path)
    return caught.value


def test_good_adapter_loads(tmp_path: Path) -> None:
    adapter = load_adapter(write(tmp_path, GOOD))
    assert adapter.site == "shop"
    assert adapter.robots_obey is True  # obeyed unless the file says otherwise
    assert adapter.allows("https://m.shop.example.cn/item/1")
    assert not adapter.allows("https://shop.example.cn.evil.com/item/1")
    assert not adapter.allows("https://evil.com/?shop.example.cn")
    assert not adapter.allows("javascript:alert(1)")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"search.folow": True}, "search.folow", "unknown key"),
        ({"allowed_domains": None}, "allowed_domains", "required"),
        ({"allowed_domains": ["https://shop.example.cn/"]}, "allowed_domains[0]", "not a domain"),
        ({"search.url": "{base_url}/s?q=x"}, "search.url", "{keyword}"),
        ({"search.url": "{base_url}/s?q={keyword}&{pg}"}, "search.url", "unknown placeholder"),
        ({"search.items": {"css": "li[["}}, "search.items.css", "invalid CSS"),
        ({"search.items": {"xpath": "//li[@"}}, "search.items.xpath", "invalid XPath"),
        ({"search.items": {"css": "li", "xpath": "//li"}}, "search.items", "exactly one"),
        ({"search.fields.price": {"css": ".p", "regex": "(unclosed"}}, "search.fields.price.regex",
         "invalid regular expression"),
        ({"search.fields.colour": "b::text"}, "search.fields.colour", "unknown field"),
        ({"search.fields.price": {"json": "a.b"}}, "search.fields.price", "search.script"),
        ({"search.script": "g_page_config", "search.items": {"json": "a..b"}},
         "search.items.json", "invalid JSON path"),
        ({"search.fields.url": None}, "search.fields.url", "follow into detail"),
        ({"browser": "sometimes"}, "browser", "never, always, when_missing"),
        ({"encoding": "klingon"}, "encoding", "unknown encoding"),
        ({"robots_obey": "yes"}, "robots_obey", "true or false"),
        ({"proxy": "10.0.0.1:3128"}, "proxy", "http://"),
        ({"site": "Shop!"}, "site", "lower-case"),
        ({"site": "other"}, "site", "file name"),
        ({"base_url": "https://elsewhere.example.com"}, "base_url", "outside allowed_domains"),
        ({"login": {"cookies_file": "nope.txt"}}, "login.cookies_file", "file not found"),
        ({"search.max_pages": 0}, "search.max_pages", ">= 1"),
        ({"detail.attributes": {"rows": {"json": "a"}, "key": "th", "value": "td"}},
         "detail.attributes.rows", "css or xpath"),
        ({"detail.attributes": {"rows": "tr", "key": "th"}}, "detail.attributes.value",
         "required"),
        ({"delay": -1}, "delay", ">= 0"),
        ({"shop": {"id": ".shop-id::text", "fields": {"name": "h1"}},
          "detail.fields": {"title": "h1", "shop_url": "a.shop::attr(href)"}},
         "shop.id", "url_regex"),
        ({"shop": {"fields": {"rating": ".r::text"}}, "detail.fields": {"title": "h1"}},
         "shop", "shop_url"),
    ],
)  # fmt: skip
def test_mistakes_are_reported_with_file_field_and_problem(
    tmp_path: Path, change: dict[str, object], field: str, words: str
) -> None:
    error = broken(tmp_path, change)
    assert error.field == field, str(error)
    assert words in error.problem, str(error)
    assert str(error).startswith(f"{tmp_path / 'shop.yaml'}: {field}: ")


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "site: shop\nallowed_domains: [a.cn\nsearch: {}\n")
    with pytest.raises(AdapterError, match=r"shop\.yaml: not valid YAML \(line \d+"):
        load_adapter(path)


def test_empty_file_and_missing_site(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="the file is empty"):
        load_adapter(write(tmp_path, ""))
    with pytest.raises(AdapterError, match="no such site adapter"):
        load_site("nowhere", tmp_path)


def test_bundled_and_fixture_adapters_load() -> None:
    bundled = site_files()
    assert "demo" in bundled
    for path in [*bundled.values(), *FIXTURES.glob("*.yaml")]:
        load_adapter(path)


def test_shipped_template_is_a_valid_adapter(tmp_path: Path) -> None:
    template = BUNDLED / "template.yaml.example"
    copy = tmp_path / "template.yaml"
    copy.write_bytes(template.read_bytes())
    adapter = load_adapter(copy)
    assert adapter.shop is not None and adapter.detail is not None
    assert "template" not in site_files()  # not a site of its own until copied


def test_sites_dir_wins_and_domains_pick_the_adapter(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    assert site_files(tmp_path)["shop"] == tmp_path / "shop.yaml"
    adapter, errors = adapter_for_url("https://www.shop.example.cn/item/9", tmp_path)
    assert adapter is not None and adapter.site == "shop" and not errors
    write(tmp_path, "site: [", name="bad.yaml")
    adapter, errors = adapter_for_url("https://unknown.example.org/", tmp_path)
    assert adapter is None
    assert [e.file for e in errors] == [str(tmp_path / "bad.yaml")]


def test_script_json_forms() -> None:
    from crawlers.site_adapter.script_json import ScriptJsonError, find_script_json, resolve_path

    page = (
        '<script>var g_page_config = {"mods": {"list": [{"t": "a"}, {"t": "b"}]}};g_x();</script>'
        '<script>window.__INITIAL_STATE__={"item":{"title":"含</script>的标题"}}</script>'
        '<script id="__NEXT_DATA__" type="application/json">{"props": {"n": 1}}</script>'
    )
    config = find_script_json(page, "g_page_config")
    assert resolve_path(config, "mods.list[*].t") == ["a", "b"]
    assert resolve_path(config, "mods.list[1].t") == "b"
    assert resolve_path(config, "mods.list[5].t") is None
    assert resolve_path(config, "mods.missing.t") is None
    assert (
        find_script_json(page, "window.__INITIAL_STATE__")["item"]["title"] == "含</script>的标题"
    )
    assert find_script_json(page, "__NEXT_DATA__") == {"props": {"n": 1}}
    assert find_script_json('mtopjsonp3({"data": {"ok": true}})', "mtopjsonp3") == {
        "data": {"ok": True}
    }
    assert find_script_json('{"a": [1]}', "@body") == {"a": [1]}
    with pytest.raises(ScriptJsonError, match="no script JSON named"):
        find_script_json(page, "__APOLLO_STATE__")
    with pytest.raises(ScriptJsonError, match="not JSON"):
        find_script_json("<script>g_page_config = {broken: 1};</script>", "g_page_config")
