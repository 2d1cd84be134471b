"""File reading and row mapping for imports: line numbers, column names in errors, order grouping."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from aftersail.catalog.schemas import ProductCreate
from aftersail.kit.csvio import FileFormat, Record, RecordWriter, RowError, UnreadableFile, read_records
from aftersail.kit.imports import PRODUCT_COLUMNS, Kind, _units
from aftersail.orders.schemas import OrderCreate


def test_csv_records_keep_their_starting_line(tmp_path: Path) -> None:
    source = tmp_path / "x.csv"
    source.write_text('handle,title\na,"two\nlines"\n\nb, spaced \nc\n,\n')
    found = list(read_records(source, columns=["handle", "title"]))
    assert found == [
        Record(2, {"handle": "a", "title": "two\nlines"}),
        Record(5, {"handle": "b", "title": "spaced"}),
        Record(6, {"handle": "c"}),
    ]


def test_csv_with_too_many_cells_or_unknown_columns(tmp_path: Path) -> None:
    source = tmp_path / "x.csv"
    source.write_text("handle,title\na,b,c\n")
    [error] = list(read_records(source, columns=["handle", "title"]))
    assert isinstance(error, RowError) and error.line == 2
    source.write_text("handle,colour\n")
    with pytest.raises(UnreadableFile, match="colour"):
        list(read_records(source, columns=["handle", "title"]))
    with pytest.raises(UnreadableFile, match=r"\.csv or \.jsonl"):
        list(read_records(tmp_path / "x.txt"))


def test_jsonl_bad_lines_are_errors_not_crashes(tmp_path: Path) -> None:
    source = tmp_path / "x.jsonl"
    source.write_text('{"a": 1}\n\n[1]\n{oops\n"text"\n')
    kinds = [(type(item).__name__, item.line) for item in read_records(source)]
    assert kinds == [("Record", 1), ("RowError", 3), ("RowError", 4), ("RowError", 5)]


def test_product_rows_report_csv_column_names(tmp_path: Path) -> None:
    source = tmp_path / "p.csv"
    source.write_text(
        "handle,title,category,sku_code,declared_value_minor,currency,attributes\n"
        "h,T,c,S-1,12,USD,size=M;color=red\n"
        "h,T,c,S 2,-1,USD,\n"
        "h,T,c,S-3,1,USD,broken\n"
    )
    first, second, third = list(_units(Kind.PRODUCTS, source))
    assert isinstance(first.model, ProductCreate)
    assert first.model.skus[0].attributes == {"size": "M", "color": "red"}
    assert {(e.line, e.field) for e in second.errors} == {(3, "sku_code"), (3, "declared_value_minor")}
    assert [(e.line, e.field) for e in third.errors] == [(4, "attributes")]


def test_order_rows_group_by_number_and_blame_the_right_line(tmp_path: Path) -> None:
    source = tmp_path / "o.csv"
    source.write_text(
        "number,currency,customer_email,ship_name,ship_country,sku_code,quantity,unit_price_minor\n"
        "A,USD,a@b.test,Al,US,S-1,1,100\n"
        "A,USD,a@b.test,Al,US,S-2,zero,100\n"
        "B,USD,not-email,Al,US,S-1,1,100\n"
        ",USD,a@b.test,Al,US,S-1,1,100\n"
        ",USD,a@b.test,Al,US,S-2,1,100\n"
    )
    units = list(_units(Kind.ORDERS, source))
    assert [u.lines for u in units] == [[2, 3], [4], [5], [6]]
    assert [(e.line, e.field) for e in units[0].errors] == [(3, "quantity")]
    assert [(e.line, e.field) for e in units[1].errors] == [(4, "customer_email")]
    assert isinstance(units[2].model, OrderCreate) and units[2].model.customer is not None
    assert units[2].model.customer.country == "US"


def test_writer_csv_and_jsonl() -> None:
    out = io.StringIO()
    writer = RecordWriter(out, FileFormat.CSV, ["handle", "attributes", "barcode"])
    writer.write([{"handle": "h", "attributes": {"size": "M"}, "barcode": None, "ignored": 1}])
    assert out.getvalue() == 'handle,attributes,barcode\nh,"{""size"":""M""}",\n'
    out = io.StringIO()
    RecordWriter(out, FileFormat.JSONL, PRODUCT_COLUMNS).write([{"title": "茶杯"}])
    assert out.getvalue() == '{"title": "茶杯"}\n'
