"""Reading an imported file: CSV or XLSX bytes → its header and data rows, each with its
line number in the file. A file that cannot be read at all is INVALID_ARGUMENT on
`content` (or `format`); what is wrong inside a row is for `rows` to say."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from domain.import_fields import FORMATS
from kernel.errors import InvalidArgument
from services.intake.validation import invalid, number

# A data row of the file: what each cell holds (XLSX cells may be real dates).
Cell = str | date | datetime
# More than 4 MiB of messages never holds this many rows; a bound on any sheet's size.
MAX_ROWS = 50_000
MAX_COLUMNS = 200
MAX_CELL_LENGTH = 10_000
_SEPARATORS = (";", ",", "\t")


@dataclass(frozen=True)
class Row:
    line: int
    cells: list[Cell]


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[Row]


def read(format_: str, content: bytes) -> Table:
    if format_ not in FORMATS:
        raise invalid(
            "format",
            f"format must be one of {', '.join(FORMATS)}",
            "Le format du fichier est « csv » ou « xlsx ».",
            "UNKNOWN_FORMAT",
        )
    if not content:
        raise invalid("content", "content is empty", "Le fichier est vide.", "FIELD_REQUIRED")
    table = _read_xlsx(content) if format_ == "xlsx" else _read_csv(content)
    if not any(table.header):
        raise invalid(
            "content",
            "the first line must hold the columns' headers",
            "La première ligne du fichier doit porter les titres des colonnes.",
            "NO_HEADER",
        )
    if len(table.header) > MAX_COLUMNS:
        raise _too_big(f"more than {MAX_COLUMNS} columns", f"plus de {MAX_COLUMNS} colonnes")
    return table


def _too_big(what: str, what_fr: str) -> InvalidArgument:
    return invalid(
        "content",
        f"the file has {what}",
        f"Le fichier compte {what_fr} : découpez-le en plusieurs fichiers.",
        "FILE_TOO_LARGE",
    )


def _decode(content: bytes) -> str:
    """UTF-8 (with or without its byte-order mark), else Windows-1252, as spreadsheets
    save "CSV" in France."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def _separator(first_line: str) -> str:
    return max(_SEPARATORS, key=first_line.count)


def _read_csv(content: bytes) -> Table:
    text = _decode(content)
    if "\x00" in text:
        raise invalid(
            "content",
            "a CSV file holds no NUL character: is it a spreadsheet saved in another format?",
            "Ce fichier n'est pas un fichier CSV lisible : enregistrez-le au format CSV ou XLSX.",
            "UNREADABLE_FILE",
        )
    # strict: a quote never closed is an error, not the rest of the file read as one cell.
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=_separator(text.split("\n", 1)[0]), strict=True
    )
    header: list[str] | None = None
    rows: list[Row] = []
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if header is None:
                header = [cell.strip() for cell in record]
                continue
            if any(cell.strip() for cell in record):
                if len(rows) == MAX_ROWS:
                    raise _too_big(f"more than {MAX_ROWS} rows", f"plus de {number(MAX_ROWS)} lignes")
                rows.append(Row(line, list(record)))
    except csv.Error:
        raise invalid(
            "content",
            f"the CSV file cannot be read past line {start}",
            f"Le fichier CSV est illisible à partir de la ligne {start} (guillemets mal fermés ?).",
            "UNREADABLE_FILE",
        ) from None
    return Table(header or [], rows)


def _xlsx_cell(value: object) -> Cell:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date() if value.time() == time() else value
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_xlsx(content: bytes) -> Table:
    # openpyxl is imported here: only an XLSX import pays for it.
    from openpyxl import load_workbook

    try:
        return _sheet(load_workbook(io.BytesIO(content), read_only=True, data_only=True))
    except InvalidArgument:
        raise
    except Exception:  # whatever a damaged file makes openpyxl raise, the fault is the file's
        raise invalid(
            "content",
            "the XLSX file cannot be read (not a spreadsheet, or damaged)",
            "Le fichier XLSX est illisible (ce n'est pas un classeur, ou il est abîmé) :"
            " enregistrez-le de nouveau depuis le tableur.",
            "UNREADABLE_FILE",
        ) from None


def _sheet(book: Any) -> Table:
    try:
        sheet = book.worksheets[0]
        header: list[str] | None = None
        rows: list[Row] = []
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_xlsx_cell(v) for v in values[: MAX_COLUMNS + 1]]
            if header is None:
                header = [str(c).strip() for c in cells]
                continue
            if any(c != "" and not (isinstance(c, str) and not c.strip()) for c in cells):
                if len(rows) == MAX_ROWS:
                    raise _too_big(f"more than {MAX_ROWS} rows", f"plus de {number(MAX_ROWS)} lignes")
                rows.append(Row(line, cells))
    finally:
        book.close()
    while header and header[-1] == "":
        header.pop()  # a sheet's trailing empty columns
    return Table(header or [], rows)
