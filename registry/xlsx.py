"""A one-sheet XLSX of text cells, written as it streams.

The register's spreadsheets are tables of text: a header and rows. Measured
side by side on 200,000 customers (docs/benchmarks.md), openpyxl's write-only
mode, XlsxWriter in constant-memory mode and PyExcelerate all spend 10 to 40
microseconds of Python per cell in their general machinery (types, styles,
cell objects); none came near the 8 seconds asked for the whole register. A
sheet of inline strings is a few lines of SpreadsheetML (ECMA-376 part 1,
18.3.1.53 `is`), so this module writes exactly that: every cell as an inline
string, row by row, into a zip member of unknown size (zip64), memory flat.
openpyxl reads the result back in the tests, as the import reads workbooks.
"""

import functools
import re
import zipfile
from xml.sax.saxutils import escape

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

PARTS = {
    "[Content_Types].xml": (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{CONTENT_TYPE}.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        f'ContentType="{CONTENT_TYPE}.worksheet+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        f'<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
        f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
        f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}

#: Characters XML 1.0 cannot hold at all (controls other than tab and line
#: ends, lone surrogates, U+FFFE/U+FFFF): each becomes U+FFFD.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Excel reads `_x0041_` in a string as an escaped character; a literal one
#: is kept by escaping its underscore as `_x005F_`.
EXCEL_ESCAPE = re.compile("_(x[0-9A-Fa-f]{4}_)")


def cell_text(value):
    """A value as the text of an inline string (markup escaped; the
    characters of NOT_XML and EXCEL_ESCAPE are handled by `clean`)."""
    if value.__class__ is not str:
        value = "" if value is None else str(value)
    return escape(value)


def clean(xml):
    """The rows' XML with what XML cannot hold replaced and typed Excel
    escapes kept as typed: done over many rows at once, as the markup itself
    holds neither."""
    xml = NOT_XML.sub("\ufffd", xml)
    if "_x" in xml:
        xml = EXCEL_ESCAPE.sub(r"_x005F_\1", xml)
    return xml


def column_letters(index):
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def xlsx_write(file, rows, *, rows_per_write=1000):
    """Write `rows` (lists of values, the header first) as a workbook into
    the binary `file`. Returns the number of rows written, the header
    included."""
    count = 0
    # The fastest compression: level 6 took a third of the time of a
    # 200,000-row sheet for a file a sixth smaller (17.5 MB, not 21 MB).
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        for name, xml in PARTS.items():
            package.writestr(name, DECLARATION + xml)
        with package.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'{DECLARATION}<worksheet xmlns="{MAIN}"><sheetData>'.encode())
            batch = []
            for count, row in enumerate(rows, start=1):
                batch.append(row)
                if len(batch) == rows_per_write:
                    sheet.write(rows_xml(batch, count - len(batch) + 1).encode())
                    batch.clear()
            last = rows_xml(batch, count - len(batch) + 1) if batch else ""
            sheet.write((last + "</sheetData></worksheet>").encode())
    return count


#: Between the cells and the rows of a batch while it is escaped at once;
#: a batch holding either is written cell by cell.
CELL_BREAK, ROW_BREAK = "\ue000", "\ue001"


def rows_xml(rows, first):
    """The XML of `rows`, numbered from `first`. The text of a thousand rows
    is escaped and cleaned in one go, and each row filled into a template
    of its length: a call or two per row, not several per cell (200,000
    rows took 5 s cell by cell)."""
    try:
        text = ROW_BREAK.join(CELL_BREAK.join(row) for row in rows)
    except TypeError:  # not all text: cell by cell
        return rows_xml_by_cell(rows, first)
    if text.count(CELL_BREAK) + text.count(ROW_BREAK) != sum(map(len, rows)) - 1:
        return rows_xml_by_cell(rows, first)
    lines = clean(escape(text)).split(ROW_BREAK)
    return "".join(
        row_template(len(row)).format(number, *line.split(CELL_BREAK))
        for number, (line, row) in enumerate(zip(lines, rows, strict=True), start=first)
    )


@functools.cache
def row_template(length):
    cells = "".join(
        f'<c r="{column_letters(index)}{{0}}" t="inlineStr"><is><t xml:space="preserve">'
        f"{{{index + 1}}}</t></is></c>"
        for index in range(length)
    )
    return f'<row r="{{0}}">{cells}</row>'


def rows_xml_by_cell(rows, first):
    """rows_xml for any values (None, numbers, dates), one cell at a time."""
    lines = []
    for number, row in enumerate(rows, start=first):
        cells = "".join(
            f'<c r="{column_letters(index)}{number}" t="inlineStr"><is><t xml:space="preserve">'
            f"{cell_text(value)}</t></is></c>"
            for index, value in enumerate(row)
        )
        lines.append(f'<row r="{number}">{cells}</row>')
    return clean("".join(lines))
