"""Reading CSV and XLSX files: encodings, separators, line numbers, what cannot be read."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from kernel.errors import InvalidArgument
from services.intake.importing import reader


def test_csv_separator_and_encoding_are_found() -> None:
    for separator in (";", ",", "\t"):
        content = f"nom{separator}commune\r\nLefèvre{separator}55029\r\n".encode()
        table = reader.read("csv", content)
        assert table.header == ["nom", "commune"]
        assert table.rows[0].cells == ["Lefèvre", "55029"]
    assert reader.read("csv", "\ufeffnom;x\r\nÉloïse;1\r\n".encode()).header == ["nom", "x"]
    assert reader.read("csv", "nom;x\r\nÉloïse;1\r\n".encode("cp1252")).rows[0].cells == ["Éloïse", "1"]


def test_line_numbers_are_the_files_even_with_blank_lines_and_quoted_line_breaks() -> None:
    content = b'a;b\r\n1;2\r\n\r\n;\r\n"trois\r\nlignes";4\r\n5;6\r\n'
    table = reader.read("csv", content)
    assert [(r.line, r.cells[0]) for r in table.rows] == [(2, "1"), (5, "trois\r\nlignes"), (7, "5")]


def test_xlsx_dates_stay_dates_and_rows_keep_their_number() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["date_ouverture", "commune", "urgent"])
    sheet.append([date(2024, 2, 3), 55029, True])
    sheet.append([None, None, None])
    sheet.append([datetime(2024, 3, 1, 9, 30), "02722", False])
    out = io.BytesIO()
    book.save(out)
    table = reader.read("xlsx", out.getvalue())
    assert table.header == ["date_ouverture", "commune", "urgent"]
    assert [(r.line, r.cells) for r in table.rows] == [
        (2, [date(2024, 2, 3), "55029", "oui"]),
        (4, [datetime(2024, 3, 1, 9, 30), "02722", "non"]),
    ]


@pytest.mark.parametrize(
    ("format_", "content", "field", "reason"),
    [
        ("ods", b"a", "format", "UNKNOWN_FORMAT"),
        ("csv", b"", "content", "FIELD_REQUIRED"),
        ("xlsx", b"PK\x03\x04 not a workbook", "content", "UNREADABLE_FILE"),
        ("xlsx", b"a;b\r\n", "content", "UNREADABLE_FILE"),
        ("csv", b"a;b\x00c\r\n", "content", "UNREADABLE_FILE"),
        ("csv", b";;\r\n1;2;3\r\n", "content", "NO_HEADER"),
        ("csv", b'a;b\r\n"jamais ferme;2\r\n', "content", "UNREADABLE_FILE"),
    ],
)
def test_a_file_that_cannot_be_read_is_invalid_argument(
    format_: str, content: bytes, field: str, reason: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        reader.read(format_, content)
    assert (refused.value.violations[0].field, refused.value.reason) == (field, reason)
    assert refused.value.fr


def test_too_many_rows_is_refused() -> None:
    content = b"a\r\n" + b"1\r\n" * (reader.MAX_ROWS + 1)
    with pytest.raises(InvalidArgument) as refused:
        reader.read("csv", content)
    assert refused.value.reason == "FILE_TOO_LARGE"
