"""The certificate registry: CSV import (CLI), and the CCC_CERT_* rules against it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from marketguard.models import Flag, Listing
from marketguard.registry import import_csv, load_registry
from matching import Matcher
from matching.context import CertificateRecord, CertificateRegistry, MatchContext
from tests.conftest import run_cli

CSV = """证书编号,持证人,产品名称,型号,证书状态,发证日期,有效期至
2023010907123456,深圳市星川电子有限公司,电源适配器,XC-65；XC-33,有效,2023-03-01,2028-02-28
2021010907000001,东莞甲电子有限公司,电源适配器,A1,撤销,2021-01-05,2026-01-04
2019010907000002,东莞乙电子有限公司,电源适配器,B1,有效,2019-01-05,2024-01-04
2023010914000003,深圳丙科技有限公司,移动电源,P10,暂停,2023-09-01,2028-08-31
12345,坏行,充电器,,有效,,
2023010907000004,丁公司,电源适配器,,invalid-status,,
"""
CRAWLED = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


def test_cli_import_reports_bad_rows_and_keeps_good_ones(tmp_path: Path) -> None:
    source = tmp_path / "certs.csv"
    source.write_bytes(CSV.encode("gb18030"))  # what Excel in China writes
    proc = run_cli("registry", "import", str(source), "--store", str(tmp_path / "home"))
    assert proc.returncode == 0, proc.stderr
    assert "imported 4 certificate(s), skipped 2 row(s)" in proc.stdout
    assert "line 6: number: expected 16 digits" in proc.stderr
    assert "line 7: status" in proc.stderr
    registry = load_registry(tmp_path / "home")
    assert registry is not None and len(registry) == 4
    record = registry.get("2023010907123456")
    assert record is not None and record.models == ("XC-65", "XC-33")
    assert record.expires == date(2028, 2, 28)
    # Importing again updates in place.
    source.write_text(CSV.replace("撤销", "有效"), encoding="utf-8-sig")
    assert import_csv(tmp_path / "home", source).imported == 4
    again = load_registry(tmp_path / "home")
    assert again is not None and again.get("2021010907000001").status == "valid"  # type: ignore[union-attr]


def test_cli_refuses_a_file_without_the_required_columns(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("a,b\n1,2\n", encoding="utf-8")
    proc = run_cli("registry", "import", str(source), "--store", str(tmp_path))
    assert proc.returncode == 2 and "missing column(s) number, holder" in proc.stderr
    assert load_registry(tmp_path) is None


def _registry() -> CertificateRegistry:
    return CertificateRegistry(
        [
            CertificateRecord(
                "2023010907123456", "深圳市星川电子有限公司", "电源适配器", ("XC-65", "XC-33")
            ),
            CertificateRecord("2021010907000001", "东莞甲电子", "电源适配器", (), "revoked"),
            CertificateRecord(
                "2019010907000002", "乙公司", "电源适配器", (), "valid", expires=date(2024, 1, 4)
            ),
        ]
    )


def _flags(matcher: Matcher, attrs: dict[str, str], title: str = "65W 充电器") -> list[Flag]:
    listing = Listing(
        platform="t", listing_id="1", url="u", title=title, attributes=attrs, crawled_at=CRAWLED
    )
    return matcher.match(listing, MatchContext(registry=_registry())).flags


def _ids(flags: list[Flag]) -> set[str]:
    return {f.rule_id for f in flags}


def test_registry_rules_fire(matcher: Matcher) -> None:
    not_found = _flags(matcher, {"3C证书编号": "2023010907999999"})
    assert "CCC_CERT_NOT_FOUND" in _ids(not_found)
    revoked = [f for f in _flags(matcher, {"3C证书编号": "2021010907000001"})]
    status = next(f for f in revoked if f.rule_id == "CCC_CERT_STATUS")
    assert "撤销" in status.reason and "revoked" in status.reason_en
    expired = _flags(matcher, {"3C证书编号": "2019010907000002"})
    assert any(f.rule_id == "CCC_CERT_STATUS" and "已过期" in f.reason for f in expired)
    wrong_model = _flags(matcher, {"3C证书编号": "2023010907123456", "型号": "ZZ-100"})
    mismatch = next(f for f in wrong_model if f.rule_id == "CCC_CERT_MISMATCH")
    assert "ZZ-100" in mismatch.snippet and mismatch.field == "attributes.3C证书编号"
    scope = _flags(matcher, {"3C证书编号": "2023010907123456"}, title="20000mAh 充电宝")
    assert "CCC_CERT_MISMATCH" in _ids(scope)
    holder = _flags(matcher, {"3C证书编号": "2023010907123456", "生产企业": "广州某贸易商行"})
    assert "CCC_CERT_MISMATCH" in _ids(holder)


def test_registry_rules_stay_silent_when_all_is_well_or_unknown(matcher: Matcher) -> None:
    good = _flags(
        matcher,
        {"3C证书编号": "2023010907123456", "型号": "xc 65", "生产企业": "深圳市星川电子有限公司"},
    )
    assert not _ids(good) & {"CCC_CERT_NOT_FOUND", "CCC_CERT_STATUS", "CCC_CERT_MISMATCH"}
    # Without a registry nothing is "not found".
    listing = Listing(
        platform="t",
        listing_id="1",
        url="u",
        title="充电器",
        attributes={"3C证书编号": "2023010907999999"},
        crawled_at=CRAWLED,
    )
    assert not _ids(matcher.match(listing).flags) & {"CCC_CERT_NOT_FOUND"}
    # A malformed number is CCC_NUMBER_INVALID's, not looked up.
    bad = _flags(matcher, {"3C证书编号": "2099010907999999"})
    assert "CCC_NUMBER_INVALID" in _ids(bad) and "CCC_CERT_NOT_FOUND" not in _ids(bad)


def test_formal_certificate_names_and_brands_in_the_holder_are_consistent(
    matcher: Matcher,
) -> None:
    registry = CertificateRegistry(
        [
            CertificateRecord(
                "2016011102000001", "宁波宝宝安全用品有限公司", "机动车儿童乘员用约束系统", ("S1",)
            ),
            CertificateRecord("2019010907000009", "安克创新科技股份有限公司", "电源适配器", ()),
        ]
    )
    seat = Listing(
        platform="t",
        listing_id="1",
        url="u",
        title="儿童安全座椅 ISOFIX",
        attributes={"3C证书编号": "2016011102000001", "型号": "S1"},
        crawled_at=CRAWLED,
    )
    assert "CCC_CERT_MISMATCH" not in _ids(
        matcher.match(seat, MatchContext(registry=registry)).flags
    )
    charger = Listing(
        platform="t",
        listing_id="2",
        url="u",
        title="安克 65W 充电器",
        brand="安克",
        attributes={"3C证书编号": "2019010907000009", "生产企业": "湖南安克电子商务有限公司"},
        crawled_at=CRAWLED,
    )
    flags = matcher.match(charger, MatchContext(registry=registry)).flags
    assert "CCC_CERT_MISMATCH" not in _ids(flags)
