"""OCR of listing images (RapidOCR, models from the wheel) and the CCC mark check."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from matching.image_hash import ImageDecodeError
from matching.image_text import OcrReader
from tests.image_samples import ccc_mark_picture, text_picture

NUMBER = "2023011609123456"


@pytest.fixture(scope="module")
def reader() -> OcrReader:
    return OcrReader()


def test_models_ship_inside_the_installed_package() -> None:
    import rapidocr_onnxruntime

    models = Path(rapidocr_onnxruntime.__file__).parent / "models"
    files = {p.name: p.stat().st_size for p in models.glob("*.onnx")}
    assert any("det" in name for name in files) and any("rec" in name for name in files)
    assert all(size > 500_000 for size in files.values())


def test_loading_and_reading_need_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"OCR tried to open a network connection: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    result = OcrReader().read(text_picture(["证书编号 " + NUMBER]))
    assert NUMBER in result.text.replace(" ", "")


def test_reads_chinese_spec_card_with_certificate_number_and_maker(reader: OcrReader) -> None:
    card = text_picture(
        [
            "产品名称：快速充电器",
            f"3C证书编号：{NUMBER}",
            "制造商：深圳市安克电子有限公司",
            "地址：广东省深圳市南山区科技园",
        ]
    )
    result = reader.read(card)
    text = result.text
    assert NUMBER in text.replace(" ", "")
    assert "深圳市安克电子有限公司" in text and "南山区" in text and "快速充电器" in text
    assert len(result.lines) == 4 and all(line.score > 0.5 for line in result.lines)
    assert result.lines[0].box[1] < result.lines[1].box[1]  # reading order: top to bottom
    assert not result.ccc_mark  # "3C证书编号" is text, not the emblem


def test_ccc_mark_needs_the_letters_inside_an_oval(reader: OcrReader) -> None:
    mark = reader.read(ccc_mark_picture(NUMBER))
    assert mark.ccc_mark and NUMBER in mark.text.replace(" ", "")
    letters_only = reader.read(ccc_mark_picture(NUMBER, oval=False))
    assert "CCC" in letters_only.text and not letters_only.ccc_mark
    plain = reader.read(text_picture(["本产品已通过CCC认证"]))
    assert "CCC" in plain.text and not plain.ccc_mark


def test_demo_shop_ccc_mark_image_is_read(reader: OcrReader) -> None:
    from demo.images import ccc_mark

    result = reader.read(ccc_mark("2021011606000001"))
    assert result.ccc_mark and "2021011606000001" in result.text.replace(" ", "")


def test_bad_bytes_are_a_clear_error_not_a_crash(reader: OcrReader) -> None:
    with pytest.raises(ImageDecodeError):
        reader.read(b"GIF89a broken")
    blank = reader.read(text_picture([]))
    assert blank.text == "" and not blank.ccc_mark
