"""Reading and writing tabular files for imports and exports: CSV (with a header row) or JSON Lines,
chosen by file extension; every record keeps the line number it started on, for error reports."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


EXTENSIONS = {".csv": FileFormat.CSV, ".jsonl": FileFormat.JSONL, ".ndjson": FileFormat.JSONL}


class UnreadableFile(Exception):
    """The file as a whole cannot be imported (wrong extension, no header, not UTF-8)."""


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    message: str


def format_of(path: Path) -> FileFormat:
    try:
        return EXTENSIONS[path.suffix.lower()]
    except KeyError:
        raise UnreadableFile(f"{path.name}: use a .csv or .jsonl (JSON Lines) file") from None


def read_records(path: Path, *, columns: Sequence[str] = ()) -> Iterator[Record | RowError]:
    """Each record, or a RowError for a line that is not even a record (bad JSON, a list, a short row).

    CSV cells are stripped and empty cells dropped, so an optional column may be left blank. For CSV,
    `columns` lists the accepted header names; an unknown header makes the whole file unreadable.
    """
    try:
        if format_of(path) is FileFormat.CSV:
            yield from _read_csv(path, columns)
        else:
            yield from _read_jsonl(path)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _read_csv(path: Path, columns: Sequence[str]) -> Iterator[Record | RowError]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        if not header:
            raise UnreadableFile(f"{path.name}: empty file, expected a header row")
        unknown = [name for name in header if columns and name not in columns]
        if unknown:
            raise UnreadableFile(
                f"{path.name}: unknown column(s) {', '.join(unknown)}; expected some of {', '.join(columns)}"
            )
        reader.fieldnames = header
        for row in reader:
            # line_num is the last physical line read; quoted cells may span lines, blank lines are skipped.
            start = reader.line_num - sum(v.count("\n") for v in row.values() if isinstance(v, str))
            if None in row:
                yield RowError(start, "", f"{len(row[None]) + len(header)} cells for {len(header)} columns")
                continue
            cells = {k: v.strip() for k, v in row.items() if v is not None and v.strip() != ""}
            if cells:
                yield Record(start, cells)


def _read_jsonl(path: Path) -> Iterator[Record | RowError]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RowError(number, "", f"not JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(data, dict):
                yield RowError(number, "", "each line must be a JSON object")
                continue
            yield Record(number, data)


def count_records(path: Path) -> int:
    """A cheap upper bound for a progress bar: non-blank lines (minus the CSV header)."""
    with path.open("rb") as handle:
        lines = sum(1 for raw in handle if raw.strip())
    return max(lines - 1, 0) if format_of(path) is FileFormat.CSV else lines


def validation_errors(
    line: int, exc: ValidationError, rename: dict[str, str] | None = None
) -> list[RowError]:
    """Pydantic errors as row errors; `rename` maps model paths (`skus.0.code`) to file columns."""
    found = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error.get("loc", ()))
        found.append(RowError(line, (rename or {}).get(path, path), error.get("msg", "invalid")))
    return found


class RecordWriter:
    """CSV (a header, then one row per dict, nested values as JSON) or JSON Lines, written as rows come."""

    def __init__(self, out: TextIO, fmt: FileFormat, columns: Sequence[str]) -> None:
        self.out, self.fmt, self.written = out, fmt, 0
        self._csv: csv.DictWriter[str] | None = None
        if fmt is FileFormat.CSV:
            self._csv = csv.DictWriter(
                out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
            )
            self._csv.writeheader()

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            if self._csv is not None:
                self._csv.writerow({k: _cell(v) for k, v in row.items()})
            else:
                self.out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            self.written += 1


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value
