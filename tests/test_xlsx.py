"""registry/xlsx.py: the register's spreadsheets, read back as the import
reads workbooks (openpyxl)."""

import io
import zipfile

import pytest
from openpyxl import load_workbook

from registry import xlsx
from registry.xlsx import column_letters, xlsx_write


def read_back(rows):
    file = io.BytesIO()
    written = xlsx_write(file, rows)
    file.seek(0)
    assert zipfile.ZipFile(file).testzip() is None
    file.seek(0)
    sheet = load_workbook(file, read_only=True).active
    return written, [list(row) for row in sheet.iter_rows(values_only=True)]


def test_text_comes_back_as_it_was_written():
    rows = [
        ["Sukunimi", "Etunimi", "Sähköposti"],
        ["Äijälä", "Öljy", "oljy@example.invalid"],
        ["<b>&amp;</b>", "\"lainaus\" 'heittomerkki'", "  välilyönnit  "],
        ["=1+1", "'=SUM(A1)", "😀 ja 中文"],
        ["a_x", "x_y", "x" * 5000],
        ["0401234567", "00123", "1e5"],
    ]
    written, back = read_back(rows)
    assert written == len(rows)
    assert back == rows


def test_characters_xml_cannot_hold_become_replacement_characters():
    _written, back = read_back([["a\x00b\x01c\x1f", "tab\tand\nline", "\ud800"]])
    assert back == [["a\ufffdb\ufffdc\ufffd", "tab\tand\nline", "\ufffd"]]


def test_a_typed_excel_escape_is_kept_as_typed():
    """Excel reads `_x0041_` in a string as "A"; its underscore is escaped
    (`_x005F_`) so that Excel shows what was typed. (openpyxl does not decode
    these in inline strings, so the XML itself is checked.)"""
    file = io.BytesIO()
    xlsx_write(file, [["_x0041_ as typed", "no escape_x here"]])
    sheet = zipfile.ZipFile(file).read("xl/worksheets/sheet1.xml").decode()
    assert "_x005F_x0041_ as typed" in sheet
    assert "no escape_x here" in sheet


def test_empty_values_and_none_are_empty_cells():
    _written, back = read_back([["a", "", None, "d"]])
    assert back[0][0] == "a"
    assert back[0][3] == "d"
    assert back[0][1] in ("", None)
    assert back[0][2] in ("", None)


def test_wide_and_long_sheets():
    header = [f"c{n}" for n in range(60)]
    rows = [header, *([str(r), *["v"] * 59] for r in range(2500))]
    written, back = read_back(rows)
    assert written == 2501
    assert back[0] == header
    assert back[-1][0] == "2499"
    assert len(back) == 2501


@pytest.mark.parametrize(
    ("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (51, "AZ"), (52, "BA"), (701, "ZZ")]
)
def test_column_letters(index, letters):
    assert column_letters(index) == letters


HOSTILE = [
    "<b>&amp;</b>",
    "_x0041_ ja _X00e4_",
    "a\x00b\x01c\x0bd",
    "\ud800 yksinäinen",
    "\ufffe\uffff",
    "rivi\r\nrivi\ttab",
    "{0} {1} }{",
    "Äijälä 😀",
    "",
    '"lainaus"',
]


@pytest.mark.parametrize(
    "rows",
    [
        [HOSTILE, HOSTILE[::-1], HOSTILE[:3], [], [""], HOSTILE[4:]],
        [["kenttä", xlsx.CELL_BREAK], ["rivi" + xlsx.ROW_BREAK]],  # the breaks themselves
        [["teksti", None, 12, 1.5], HOSTILE],  # not all text
        [[text] * 30 for text in HOSTILE],  # past column Z
    ],
)
def test_rows_escaped_by_the_batch_are_the_rows_escaped_cell_by_cell(rows):
    assert xlsx.rows_xml(rows, 7) == xlsx.rows_xml_by_cell(rows, 7)
