"""Return-shipping labels: one A6 page (105 × 148 mm) with the RMA as a Code 128 barcode, a QR code, the
warehouse and sender addresses, the carrier's tracking number and the lines in the parcel. Plain data in,
PDF bytes out; the only thing read is the installed fonts, once per process (tests/unit/test_return_labels.py
scans the printed codes back)."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import NamedTuple

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

# Looked for at run time, never shipped: DejaVu Sans covers Latin, Greek, Cyrillic and Arabic (and has a
# bold face); WenQuanYi Micro Hei covers Chinese, Japanese and Korean. A character neither has prints "?".
FONT_CANDIDATES: tuple[tuple[str, str | None], ...] = (
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", None),
)
PAGE_WIDTH, PAGE_HEIGHT = A6
MARGIN = 4 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
MAX_LINES_SHOWN = 4


class LabelLine(NamedTuple):
    sku_code: str
    title: str
    quantity: int


@dataclass(frozen=True)
class LabelData:
    """What a return label shows. Addresses are dicts with the keys line1, line2, city, postcode, region and
    country (a missing key prints nothing); `lines` are (sku_code, title, quantity) tuples."""

    rma_number: str
    tracking_number: str
    carrier_name: str
    from_name: str
    from_address: dict[str, str]
    to_name: str
    to_address: dict[str, str]
    lines: tuple[tuple[str, str, int], ...]
    qr_payload: str
    created_at: datetime


def render_label_pdf(data: LabelData) -> bytes:
    """The label as a one-page PDF. Raises ValueError when the RMA number cannot be a Code 128 barcode."""
    if not data.rma_number or not all(" " <= ch <= "~" for ch in data.rma_number):
        raise ValueError(f"RMA number {data.rma_number!r} must be printable ASCII to print as Code 128")
    fonts = _fonts(FONT_CANDIDATES)
    out = BytesIO()
    canvas = Canvas(out, pagesize=A6, pageCompression=1, invariant=1)
    canvas.setTitle(f"Return label {data.rma_number}")
    canvas.setAuthor("AfterSail")
    pen = _Pen(canvas, fonts)
    _draw_header(pen, data)
    _draw_sender_and_qr(pen, data)
    _draw_warehouse(pen, data)
    _draw_carrier(pen, data)
    _draw_rma_barcode(pen, data)
    _draw_lines(pen, data)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


# --- layout; every `top` is millimetres from the top edge of the page -------------------------------------


def _draw_header(pen: _Pen, data: LabelData) -> None:
    canvas = pen.canvas
    canvas.setFillGray(0)
    canvas.rect(MARGIN, _y(13), CONTENT_WIDTH, 9 * mm, stroke=0, fill=1)
    pen.ink(1)
    pen.text("RETURN", MARGIN + 2 * mm, _y(10.6), 16, bold=True)
    pen.text_right(data.carrier_name, PAGE_WIDTH - MARGIN - 2 * mm, _y(8.4), 8, max_width=55 * mm)
    when = data.created_at.strftime("%Y-%m-%d")
    pen.text_right(when, PAGE_WIDTH - MARGIN - 2 * mm, _y(11.6), 7, max_width=55 * mm)
    pen.ink(0)


def _draw_sender_and_qr(pen: _Pen, data: LabelData) -> None:
    qr_size = 29 * mm
    qr_left = PAGE_WIDTH - MARGIN - qr_size
    widget = QrCodeWidget(data.qr_payload, barLevel="M", barBorder=2, barWidth=qr_size, barHeight=qr_size)
    drawing = Drawing(qr_size, qr_size)
    drawing.add(widget)
    renderPDF.draw(drawing, pen.canvas, qr_left, _y(14.5) - qr_size)
    width = qr_left - MARGIN - 2 * mm
    pen.caption("FROM", MARGIN, _y(17.5))
    pen.text(data.from_name, MARGIN, _y(21.5), 9, max_width=width, bold=True)
    top = 25.3
    for line in _address_lines(data.from_address):
        pen.text(line, MARGIN, _y(top), 8, max_width=width)
        top += 3.6


def _draw_warehouse(pen: _Pen, data: LabelData) -> None:
    box_top, box_bottom = 46.0, 87.0
    canvas = pen.canvas
    canvas.setLineWidth(1.6)
    canvas.rect(MARGIN, _y(box_bottom), CONTENT_WIDTH, (box_bottom - box_top) * mm, stroke=1, fill=0)
    left, width = MARGIN + 3 * mm, CONTENT_WIDTH - 6 * mm
    pen.caption("TO · RETURNS WAREHOUSE", left, _y(box_top + 4.2))
    pen.text(data.to_name, left, _y(box_top + 10), 13, max_width=width, bold=True)
    address = _address_lines(data.to_address, with_country=False)
    top = box_top + 15.5
    for line in address:
        pen.text(line, left, _y(top), 11, max_width=width, bold=True)
        top += 4.7
    country = data.to_address.get("country", "").strip()
    if country:
        pen.text(country.upper(), left, _y(box_bottom - 3), 15, max_width=width, bold=True)


def _draw_carrier(pen: _Pen, data: LabelData) -> None:
    half = CONTENT_WIDTH / 2
    pen.caption("CARRIER", MARGIN, _y(91))
    pen.text(data.carrier_name, MARGIN, _y(95.5), 9, max_width=half - 2 * mm)
    pen.caption("TRACKING", MARGIN + half, _y(91))
    pen.text(data.tracking_number, MARGIN + half, _y(95.5), 10, max_width=half, bold=True)


def _draw_rma_barcode(pen: _Pen, data: LabelData) -> None:
    bar_height = 17 * mm
    quiet = 4 * mm
    probe = Code128(data.rma_number, barWidth=1, humanReadable=0, quiet=0)
    # Bars as wide as fit between the quiet zones, up to 0.5 mm a module (wider only makes it harder to aim).
    bar_width = min((CONTENT_WIDTH - 2 * quiet) / probe.width, 0.5 * mm)
    barcode = Code128(
        data.rma_number,
        barWidth=bar_width,
        barHeight=bar_height,
        humanReadable=0,
        quiet=1,
        lquiet=quiet,
        rquiet=quiet,
    )
    left = MARGIN + (CONTENT_WIDTH - barcode.width) / 2
    pen.caption("RMA", MARGIN, _y(100))
    barcode.drawOn(pen.canvas, left, _y(101.5) - bar_height)
    pen.text_centred(data.rma_number, PAGE_WIDTH / 2, _y(124), 13, max_width=CONTENT_WIDTH, bold=True)


def _draw_lines(pen: _Pen, data: LabelData) -> None:
    canvas = pen.canvas
    canvas.setLineWidth(0.5)
    canvas.line(MARGIN, _y(126.5), PAGE_WIDTH - MARGIN, _y(126.5))
    count = sum(quantity for _, _, quantity in data.lines)
    pen.caption(f"CONTENTS · {len(data.lines)} LINES · {count} ITEMS", MARGIN, _y(130))
    quantity_right = MARGIN + 31 * mm
    top = 133.8
    shown = data.lines if len(data.lines) <= MAX_LINES_SHOWN else data.lines[: MAX_LINES_SHOWN - 1]
    for sku_code, title, quantity in shown:
        pen.text(sku_code, MARGIN, _y(top), 7.5, max_width=23 * mm, bold=True)
        pen.text_right(f"× {quantity}", quantity_right, _y(top), 7.5, bold=True)
        pen.text(
            title,
            quantity_right + 2 * mm,
            _y(top),
            7.5,
            max_width=PAGE_WIDTH - MARGIN - quantity_right - 2 * mm,
        )
        top += 3.4
    if len(shown) < len(data.lines):
        pen.text(f"+ {len(data.lines) - len(shown)} more lines", MARGIN, _y(top), 7.5)


def _address_lines(address: dict[str, str], with_country: bool = True) -> list[str]:
    def part(key: str) -> str:
        return address.get(key, "").strip()

    city = " ".join(p for p in (part("postcode"), part("city")) if p)
    lines = [part("line1"), part("line2"), city, part("region")]
    if with_country:
        lines.append(part("country").upper())
    return [line for line in lines if line]


def _y(top_mm: float) -> float:
    return PAGE_HEIGHT - top_mm * mm


# --- text: fonts found at run time, a fallback per character, Arabic joined and laid right to left ---------


@dataclass(frozen=True)
class _Font:
    name: str
    glyphs: frozenset[int] | None  # None: a built-in font, which prints what Windows-1252 encodes
    fake_bold: bool = False


@dataclass(frozen=True)
class _Fonts:
    regular: tuple[_Font, ...]
    bold: tuple[_Font, ...]


@functools.cache
def _fonts(candidates: tuple[tuple[str, str | None], ...]) -> _Fonts:
    regular: list[_Font] = []
    bold: list[_Font] = []
    for path, bold_path in candidates:
        font = _register(path)
        if font is None:
            continue
        regular.append(font)
        bold_font = _register(bold_path) if bold_path else None
        bold.append(bold_font or _Font(font.name, font.glyphs, fake_bold=True))
    if not regular:
        regular.append(_Font("Helvetica", None))
        bold.append(_Font("Helvetica-Bold", None))
    return _Fonts(tuple(regular), tuple(bold))


def _register(path: str) -> _Font | None:
    if not Path(path).is_file():
        return None
    name = f"aftersail-{Path(path).stem}"
    try:
        font = pdfmetrics.getFont(name)
    except KeyError:
        try:
            font = TTFont(name, path)
        except Exception:  # an unreadable or unsupported font file: the next candidate will do
            return None
        pdfmetrics.registerFont(font)
    return _Font(name, frozenset(font.face.charToGlyph))


def _covers(font: _Font, char: str) -> bool:
    if font.glyphs is None:
        try:
            char.encode("cp1252")
        except UnicodeEncodeError:
            return False
        return True
    return ord(char) in font.glyphs


class _Pen:
    """Draws one line of text in the first font that has each character."""

    def __init__(self, canvas: Canvas, fonts: _Fonts) -> None:
        self.canvas = canvas
        self.fonts = fonts
        self.gray = 0.0

    def ink(self, gray: float) -> None:
        """Text colour from here on (0 black, 1 white); a faked bold outlines its glyphs in it too."""
        self.gray = gray
        self.canvas.setFillGray(gray)

    def caption(self, text: str, x: float, y: float) -> None:
        self.ink(0.35)
        self.text(text, x, y, 6.5, bold=True)
        self.ink(0)

    def text(
        self, text: str, x: float, y: float, size: float, max_width: float | None = None, bold: bool = False
    ) -> None:
        runs, size = self._fit(text, size, max_width, bold)
        self.text_runs(runs, x, y, size)

    def text_right(
        self,
        text: str,
        right: float,
        y: float,
        size: float,
        max_width: float | None = None,
        bold: bool = False,
    ) -> None:
        runs, size = self._fit(text, size, max_width, bold)
        self.text_runs(runs, right - _width(runs, size), y, size)

    def text_centred(
        self,
        text: str,
        centre: float,
        y: float,
        size: float,
        max_width: float | None = None,
        bold: bool = False,
    ) -> None:
        runs, size = self._fit(text, size, max_width, bold)
        self.text_runs(runs, centre - _width(runs, size) / 2, y, size)

    def text_runs(self, runs: Sequence[tuple[_Font, str]], x: float, y: float, size: float) -> None:
        for font, chunk in runs:
            self._draw_run(font, chunk, x, y, size)
            x += pdfmetrics.stringWidth(chunk, font.name, size)

    def _draw_run(self, font: _Font, chunk: str, x: float, y: float, size: float) -> None:
        self.canvas.setFont(font.name, size)
        if not font.fake_bold:
            self.canvas.drawString(x, y, chunk)
            return
        self.canvas.saveState()  # a face without a bold cut: outline each glyph as well as filling it
        self.canvas.setLineWidth(size / 30)
        self.canvas.setStrokeGray(self.gray)
        self.canvas.drawString(x, y, chunk, mode=2)
        self.canvas.restoreState()

    def _fit(
        self, text: str, size: float, max_width: float | None, bold: bool
    ) -> tuple[list[tuple[_Font, str]], float]:
        """Shrink to four fifths of `size`, then cut the end off with an ellipsis, until it fits."""
        fonts = self.fonts.bold if bold else self.fonts.regular
        text = " ".join(text.split())
        runs = _runs(text, fonts)
        if max_width is None:
            return runs, size
        smallest = size * 4 / 5
        while size > smallest and _width(runs, size) > max_width:
            size = max(size - 0.5, smallest)
        keep = len(text)
        while keep > 0 and _width(runs, size) > max_width:
            keep -= 1
            runs = _runs(text[:keep].rstrip() + "…", fonts)
        return runs, size


def _runs(logical: str, fonts: Sequence[_Font]) -> list[tuple[_Font, str]]:
    """`logical` in visual order, split where the font changes; characters no font has become "?"."""
    runs: list[tuple[_Font, str]] = []
    for char in _visual_order(_join_arabic(logical)):
        font = next((f for f in fonts if _covers(f, char)), None)
        if font is None:
            font, char = fonts[0], "?"
        if runs and runs[-1][0] is font:
            runs[-1] = (font, runs[-1][1] + char)
        else:
            runs.append((font, char))
    return runs


def _width(runs: Sequence[tuple[_Font, str]], size: float) -> float:
    return sum(pdfmetrics.stringWidth(chunk, font.name, size) for font, chunk in runs)


# PDF text is drawn glyph by glyph, left to right: Arabic letters must be given their joined forms
# (initial, medial, final, isolated; Unicode's presentation forms) and right-to-left runs reversed here.
@functools.cache
def _arabic_forms() -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    forms: dict[str, dict[str, str]] = {}
    lam_alef: dict[str, dict[str, str]] = {}
    for code in range(0xFE70, 0xFEFD):
        parts = unicodedata.decomposition(chr(code)).split()
        if not parts or parts[0] not in ("<isolated>", "<final>", "<initial>", "<medial>"):
            continue
        form, letters = parts[0].strip("<>"), [chr(int(p, 16)) for p in parts[1:]]
        if len(letters) == 1:
            forms.setdefault(letters[0], {})[form] = chr(code)
        elif len(letters) == 2 and letters[0] == "\u0644":
            lam_alef.setdefault(letters[1], {})[form] = chr(code)
    return forms, lam_alef


def _join_arabic(text: str) -> str:
    forms, lam_alef = _arabic_forms()

    def neighbour(i: int, step: int) -> str | None:
        i += step
        while 0 <= i < len(text) and unicodedata.category(text[i]) == "Mn":  # vowel marks do not break a join
            i += step
        return text[i] if 0 <= i < len(text) else None

    def joins_forward(char: str | None) -> bool:
        return char is not None and {"initial", "medial"} & forms.get(char, {}).keys() != set()

    def joins_back(char: str | None) -> bool:
        return char is not None and {"final", "medial"} & forms.get(char, {}).keys() != set()

    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char not in forms:
            out.append(char)
            i += 1
            continue
        after_joined = joins_forward(neighbour(i, -1)) and joins_back(char)
        following = neighbour(i, +1)
        if char == "\u0644" and following in lam_alef:
            ligature = lam_alef[following]
            out.append(ligature["final" if after_joined and "final" in ligature else "isolated"])
            i = text.index(following, i + 1) + 1
            continue
        before_joined = joins_forward(char) and joins_back(following)
        form = {
            (True, True): "medial",
            (True, False): "final",
            (False, True): "initial",
            (False, False): "isolated",
        }[(after_joined, before_joined)]
        letter = forms[char]
        out.append(letter.get(form) or letter.get("isolated") or char)
        i += 1
    return "".join(out)


_MIRRORED = dict(zip("()[]{}<>«»", ")(][}{><»«", strict=True))


def _visual_order(text: str) -> str:
    """Reverses each right-to-left stretch of a left-to-right line, keeping numbers in it readable (a small
    part of the Unicode bidi algorithm, enough for names, titles and addresses on a label)."""
    kinds = [unicodedata.bidirectional(char) for char in text]
    out: list[str] = []
    i = 0
    while i < len(text):
        if kinds[i] not in ("R", "AL"):
            out.append(text[i])
            i += 1
            continue
        end = i
        j = i
        while j < len(text) and kinds[j] != "L":
            if kinds[j] in ("R", "AL"):
                end = j
            j += 1
        stretch: list[str] = []
        k = end
        while k >= i:  # walk backwards; a number inside keeps its own left-to-right order
            if kinds[k] in ("EN", "AN"):
                start = k
                while start - 1 >= i and kinds[start - 1] in ("EN", "AN"):
                    start -= 1
                stretch.append(text[start : k + 1])
                k = start - 1
            else:
                stretch.append(_MIRRORED.get(text[k], text[k]))
                k -= 1
        out.extend(stretch)
        i = end + 1
    return "".join(out)
