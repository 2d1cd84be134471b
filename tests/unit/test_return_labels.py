"""Return labels print what a warehouse scans (the RMA barcode and the QR code read back from a 200 dpi
raster), carry non-Latin titles without failing, and the self-managed carrier books the same parcel number
however often it is retried."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pypdf
import pytest
from reportlab.lib.pagesizes import A6

from aftersail.kit.errors import InvalidInput
from aftersail.returns import labels
from aftersail.returns.carriers import (
    BookedReturn,
    ReturnBooking,
    SelfManagedCarrier,
    carrier_for,
    self_managed_tracking_number,
)
from aftersail.returns.labels import LabelData, LabelLine, render_label_pdf

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
BUYER_IN_MADRID = {
    "line1": "Calle de Alcalá 48, 3º izq.",
    "line2": "Escalera B",
    "city": "Madrid",
    "postcode": "28014",
    "region": "Comunidad de Madrid",
    "country": "ES",
}
WAREHOUSE_IN_VENLO = {
    "line1": "Celsiusweg 12",
    "line2": "Dock 4 — Returns",
    "city": "Venlo",
    "postcode": "5928 PR",
    "region": "Limburg",
    "country": "NL",
}
LINES = (
    LabelLine("SKU-HEADPH-01", "无线蓝牙耳机 降噪 Wireless noise-cancelling headphones", 1),
    LabelLine("SKU-CASE-22", "حافظة هاتف جلدية فاخرة", 2),
)


def make_label(**changes: object) -> LabelData:
    fields: dict[str, object] = {
        "rma_number": "RMA-2025-000123",
        "tracking_number": "SM4829301746152",
        "carrier_name": "Self-managed",
        "from_name": "María José Fernández-Ñúñez",
        "from_address": BUYER_IN_MADRID,
        "to_name": "AfterSail Returns EU · Venlo 海外仓",
        "to_address": WAREHOUSE_IN_VENLO,
        "lines": LINES,
        "qr_payload": "https://returns.example.test/r/RMA-2025-000123?t=9f2c1a",
        "created_at": datetime(2025, 3, 14, 9, 30, tzinfo=UTC),
    }
    fields.update(changes)
    return LabelData(**fields)  # type: ignore[arg-type]


def make_booking(rma_number: str = "RMA-2025-000123") -> ReturnBooking:
    return ReturnBooking(
        rma_number=rma_number,
        from_name="María José Fernández-Ñúñez",
        from_address=BUYER_IN_MADRID,
        to_name="AfterSail Returns EU",
        to_address=WAREHOUSE_IN_VENLO,
        to_country="NL",
        weight_grams=850,
        lines=LINES,
        qr_payload=f"https://returns.example.test/r/{rma_number}",
        created_at=datetime(2025, 3, 14, 9, 30, tzinfo=UTC),
    )


def pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    return reader.pages[0].extract_text()


def required_tool(name: str, package: str) -> str:
    # Skips on a machine without it; CI (AFTERSAIL_TEST_REQUIRE_ALL=1) turns the skip into a failure.
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found: apt-get install {package}")
    return path


@pytest.fixture(scope="module")
def pdftoppm() -> str:
    return required_tool("pdftoppm", "poppler-utils")


@pytest.fixture(scope="module")
def zbarimg() -> str:
    return required_tool("zbarimg", "zbar-tools")


def scan(zbarimg: str, png: Path, symbology: str) -> list[str]:
    """What `zbarimg` decodes from `png` with only `symbology` (code128, qrcode) enabled."""
    result = subprocess.run(
        [zbarimg, "--raw", "--quiet", "-Sdisable", f"-S{symbology}.enable", str(png)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout.splitlines()


def test_the_label_is_one_a6_page_with_the_rma_tracking_and_warehouse() -> None:
    pdf = render_label_pdf(make_label())
    assert pdf.startswith(b"%PDF")
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(A6, abs=0.5)
    text = pdf_text(pdf)
    for expected in ("RMA-2025-000123", "SM4829301746152", "Venlo", "5928 PR", "Madrid", "SKU-CASE-22"):
        assert expected in text


def test_the_rma_barcode_and_the_qr_code_scan_back_at_200_dpi(
    pdftoppm: str, zbarimg: str, tmp_path: Path, artifacts_dir: Path
) -> None:
    label = make_label()
    (tmp_path / "label.pdf").write_bytes(render_label_pdf(label))
    subprocess.run(
        [pdftoppm, "-r", "200", "-png", "-f", "1", "-l", "1", "-singlefile", "label.pdf", "label"],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    png = tmp_path / "label.png"
    shutil.copy(png, artifacts_dir / "return-label.png")  # to look at when a scan fails in CI
    assert scan(zbarimg, png, "code128") == [label.rma_number]
    assert scan(zbarimg, png, "qrcode") == [label.qr_payload]


@pytest.mark.skipif(not CJK_FONT.is_file(), reason=f"{CJK_FONT} missing: apt-get install fonts-wqy-microhei")
def test_chinese_is_drawn_in_the_installed_cjk_font() -> None:
    text = pdf_text(render_label_pdf(make_label()))
    assert "无线蓝牙耳机" in text and "海外仓" in text


def test_without_any_installed_font_unknown_characters_print_as_question_marks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(labels, "FONT_CANDIDATES", (("/nonexistent/font.ttf", None),))
    text = pdf_text(render_label_pdf(make_label()))
    assert "Fernández-Ñúñez" in text, "Latin-1 still prints in the built-in font"
    assert "Venlo ???" in text and "RMA-2025-000123" in text


def test_long_titles_are_cut_and_extra_lines_summed_up() -> None:
    many = tuple(LabelLine(f"SKU-{n}", "Very long product title " * 8 + "THE-END", n) for n in range(1, 8))
    text = pdf_text(render_label_pdf(make_label(lines=many)))
    assert "…" in text and "THE-END" not in text
    assert "7 LINES · 28 ITEMS" in text and "+ 4 more lines" in text
    assert "SKU-3" in text and "SKU-4" not in text


def test_an_rma_number_code128_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        render_label_pdf(make_label(rma_number="RMA-退货-1"))


async def test_self_managed_booking_is_the_same_parcel_however_often_it_is_retried() -> None:
    carrier = SelfManagedCarrier()
    first = await carrier.book_return(make_booking("RMA-2025-000123"))
    again = await carrier.book_return(make_booking("RMA-2025-000123"))
    other = await carrier.book_return(make_booking("RMA-2025-000124"))
    assert isinstance(first, BookedReturn)
    assert first.carrier == "self_managed" and first.cost_minor is None and first.currency is None
    assert again.tracking_number == first.tracking_number
    assert other.tracking_number != first.tracking_number
    assert re.fullmatch(r"SM\d{13}", first.tracking_number)
    assert first.label_pdf.startswith(b"%PDF")
    assert first.tracking_number in pdf_text(first.label_pdf)


def test_self_managed_tracking_numbers_carry_a_luhn_check_digit() -> None:
    numbers = {self_managed_tracking_number(f"RMA-{n:06d}") for n in range(2_000)}
    assert len(numbers) == 2_000
    for number in numbers:
        digits = [int(d) for d in number[2:]]
        total = sum(
            d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(reversed(digits))
        )
        assert total % 10 == 0, number


def test_carriers_are_found_by_name_and_an_unknown_one_is_named() -> None:
    assert isinstance(carrier_for("self_managed"), SelfManagedCarrier)
    with pytest.raises(InvalidInput, match="'nope'") as raised:
        carrier_for("nope")
    assert raised.value.field == "carrier" and "self_managed" in raised.value.message
