"""The catalogue loader: the bundled file, the crawl's search terms, and clear schema errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from matching.catalogue import (
    DEFAULT_CATALOGUE_PATH,
    PriceBand,
    load_catalogue,
    watched_search_terms,
)
from matching.yaml_schema import CatalogueError


def bundled() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_CATALOGUE_PATH.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_bundled_catalogue_loads_with_typed_fields() -> None:
    catalogue = load_catalogue()
    ids = [c.id for c in catalogue.categories]
    assert ids[:2] == ["charger", "power_bank"]
    assert "compound_fertilizer" in ids

    charger = catalogue.get("charger")
    assert charger is not None
    assert charger.ccc_required is True
    assert charger.ccc_since == date(2002, 5, 1)
    assert charger.price_band == PriceBand(Decimal(25), Decimal(300))
    assert "充电器" in charger.keywords
    assert charger.standards == ("GB 4943.1-2022",)

    fertilizer = catalogue.get("compound_fertilizer")
    assert fertilizer is not None
    assert fertilizer.ccc_required is False
    assert fertilizer.ccc_since is None
    assert fertilizer.licence == "工业产品生产许可证"
    assert catalogue.get("nope") is None


def test_ccc_applies_only_from_its_start_date() -> None:
    power_bank = load_catalogue().get("power_bank")
    assert power_bank is not None
    assert not power_bank.ccc_required_on(date(2024, 7, 31))
    assert power_bank.ccc_required_on(date(2024, 8, 1))


def test_watched_search_terms_are_the_watched_categories_terms_once_each(tmp_path: Path) -> None:
    assert watched_search_terms() == load_catalogue().watched_search_terms()
    assert watched_search_terms()[:3] == ["充电器", "电源适配器", "移动电源"]

    data = bundled()
    data["categories"][0]["watch"] = False  # charger off the watchlist
    data["categories"][1]["search_terms"] = ["移动电源", "移动电源", "充电宝"]
    terms = watched_search_terms(write(tmp_path, data))
    assert "充电器" not in terms
    assert terms.count("移动电源") == 1


def test_price_band_prints_as_officers_write_it() -> None:
    assert str(PriceBand(Decimal(25), Decimal(300))) == "25–300"
    assert str(PriceBand(Decimal("25.50"), Decimal("99.9"))) == "25.5–99.9"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["categories"][2]["price_band"].update(low="cheap"),
            "catalogue.yaml: categories[2].price_band.low: expected a number, got 'cheap' "
            "(category 'child_car_seat')",
        ),
        (
            lambda d: d["categories"][2]["price_band"].update(low=True),
            "categories[2].price_band.low: expected a number",
        ),
        (
            lambda d: d["categories"][0].pop("keywords"),
            "categories[0].keywords: missing required field (category 'charger')",
        ),
        (
            lambda d: d["categories"][1].update(keyword=["充电宝"]),
            "categories[1]: unknown field 'keyword'",
        ),
        (
            lambda d: d["categories"][3].update(ccc_since="2007-13-01"),
            "categories[3].ccc_since: expected a date like 2002-05-01, got '2007-13-01'",
        ),
        (
            lambda d: d["categories"][0].update(ccc_required="yes please"),
            "categories[0].ccc_required: expected true or false",
        ),
        (
            lambda d: d["categories"][4].update(price_band={"low": 600, "high": 200}),
            "categories[4].price_band: low (600) is greater than high (200)",
        ),
        (
            lambda d: d["categories"][1].update(id="charger"),
            "categories[1].id: duplicate id 'charger'",
        ),
        (
            lambda d: d["categories"][1]["keywords"].append("充电器"),
            "categories[1].keywords: '充电器' is already used by category 'charger'",
        ),
        (
            lambda d: d["categories"][0].update(id="Charger!"),
            "categories[0].id: expected lower-case letters",
        ),
        (lambda d: d.update(categories=[]), "categories: expected a non-empty list"),
        (lambda d: d.pop("version"), "version: missing required field"),
    ],
)
def test_a_broken_catalogue_names_file_field_and_category(
    tmp_path: Path, change: Any, message: str
) -> None:
    data = bundled()
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_unparsable_yaml_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text("version: 1\ncategories:\n  - id: charger\n    name: [unclosed\n", "utf-8")
    with pytest.raises(
        CatalogueError, match=r"catalogue\.yaml: line \d+, column \d+: not valid YAML"
    ):
        load_catalogue(path)


def test_missing_and_empty_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"nowhere\.yaml: file not found"):
        load_catalogue(tmp_path / "nowhere.yaml")
    empty = tmp_path / "catalogue.yaml"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"catalogue\.yaml: file is empty"):
        load_catalogue(empty)


def test_optional_fields_take_defaults(tmp_path: Path) -> None:
    minimal = {
        "version": 1,
        "categories": [
            {
                "id": "cable",
                "name": "电线电缆",
                "keywords": ["电线"],
                "ccc_required": True,
                "price_band": {"low": 10, "high": 80.5},
            }
        ],
    }
    category = load_catalogue(write(tmp_path, minimal)).categories[0]
    assert category.watch is False
    assert category.search_terms == ()
    assert category.ccc_since is None
    assert category.licence == ""
    assert category.exclude_keywords == ()
    assert category.price_band.high == Decimal("80.5")
    assert category.ccc_required_on(date(2001, 1, 1))  # no start date: always in scope
