"""Reading an uploaded file: bytes of a CSV or XLSX -> a header and rows of
text, or an ImportFileError saying in plain words what is wrong with it."""

import csv
import datetime
import io
import re
import xml.parsers.expat
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _
from openpyxl.reader.excel import ExcelReader
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS

from registry.background import PlainError
from registry.exports import is_formula


class ImportFileError(PlainError):
    """A file that cannot be imported; the message says why, for the user."""


@dataclass
class Table:
    """The cells of a file as text: a header and numbered rows (numbers as a
    spreadsheet shows them: the header is row 1)."""

    headers: list
    rows: list  # of (row number, [cells])
    file_format: str
    encoding: str = ""
    delimiter: str = ""


XLSX_MAGIC = b"PK\x03\x04"


OLD_EXCEL_MAGIC = b"\xd0\xcf\x11\xe0"


DELIMITERS = ";,\t|"


MAX_COLUMNS = 60


MAX_CELL = 1000


#: The header is looked for in this many rows at most: a file of empty rows
#: is not read to its end to find it (a workbook of a million empty rows
#: with the header in the last one took half a minute).
HEADER_WITHIN_ROWS = 100


#: A line of a CSV file is at most this long: a full row of cells of the
#: longest length kept, quoted. A longer line is refused before it is split
#: into cells (one line of a million delimiters took ten seconds to read
#: cell by cell). A quoted cell that spans lines stays within the csv
#: module's own limit, csv.field_size_limit() (131,072 characters).
MAX_LINE = (MAX_COLUMNS + 1) * (MAX_CELL + 3)


def read_table(content, *, max_rows=None, first=None):
    """Read an uploaded CSV or XLSX file. Raises ImportFileError with a plain
    explanation when the file cannot be imported as it is. With `first`, only
    that many rows are read (examples for the mapping page)."""
    limits = Limits(settings.IMPORT_MAX_ROWS if max_rows is None else max_rows, first)
    if not content or not content.strip():
        raise ImportFileError(_("The file is empty."))
    if len(content) > settings.IMPORT_MAX_BYTES:
        raise ImportFileError(too_large_message())
    if content.startswith(XLSX_MAGIC):
        table = _read_xlsx(content, limits)
    elif content.startswith(OLD_EXCEL_MAGIC):
        raise ImportFileError(
            _(
                "This is an Excel 97-2003 file (.xls). Save it in Excel as “Excel workbook "
                "(.xlsx)” or as “CSV UTF-8”, and upload that."
            )
        )
    else:
        table = _read_csv(content, limits)
    if not table.headers or not any(table.headers):
        raise ImportFileError(_("The first row of the file must name the columns."))
    if not table.rows:
        raise ImportFileError(_("The file has a header row but no customers under it."))
    return table


def too_large_message():
    return _("The file is larger than %(size)s MB. Split it into smaller files.") % {
        "size": settings.IMPORT_MAX_BYTES // (1024 * 1024)
    }


def _too_many_rows(max_rows):
    return ImportFileError(
        _("The file has more than %(rows)s rows. Split it into smaller files.")
        % {"rows": f"{max_rows:,}".replace(",", " ")}
    )


def _decode(content):
    """Text of a CSV file: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's
    “Unicode text”), or Windows-1252 as Excel in Finland saves “CSV”."""
    if content.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif content.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "cp1252"]
    for encoding in candidates:
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text or _looks_binary(text):
            break
        return text, encoding
    raise ImportFileError(
        _(
            "The file is not a CSV or XLSX file, or its characters cannot be read. "
            "Save it as “CSV UTF-8” or as an Excel workbook (.xlsx)."
        )
    )


def _looks_binary(text):
    sample = text[:4096]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    return controls > len(sample) // 100 + 1


def _read_csv(content, limits):
    text, encoding = _decode(content)
    first, _newline, rest = text.lstrip("\ufeff").partition("\n")
    if re.fullmatch(r"sep=.", first.strip(), flags=re.IGNORECASE):
        # Excel's own hint line ("sep=;"), which Excel does not show as a row.
        delimiter, text = first.strip()[4], rest
    else:
        delimiter = _sniff_delimiter(text)
    reader = csv.reader(_bounded_lines(text), delimiter=delimiter, strict=True)
    try:
        # Numbered by record, as a spreadsheet numbers its rows (a quoted cell
        # may span lines). Cells past the widest row allowed are dropped
        # before any of them is looked at.
        headers, rows = _header_and_rows(
            ([_cell_text(cell) for cell in record[: MAX_COLUMNS + 1]] for record in reader),
            limits,
        )
    except csv.Error as error:
        raise ImportFileError(
            _(
                "Row %(row)s of the file cannot be read: %(error)s. Check the quotation "
                "marks on that row, or save the file again from the spreadsheet."
            )
            % {"row": reader.line_num, "error": error}
        ) from error
    return _table(headers, rows, "csv", encoding, delimiter)


#: A line and its end, as io.StringIO(text, newline="") gives them (ended by
#: \n, \r\n or \r; the last one maybe by nothing), without its copy of the
#: whole text: four bytes a character, 19 MB for a 4.7 MB file.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _bounded_lines(text):
    lines = (match.group() for match in _LINE.finditer(text))
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE:
            raise ImportFileError(
                _(
                    "Line %(line)s of the file is longer than %(chars)s characters. Save the "
                    "file again from the spreadsheet, with one customer on each line."
                )
                % {"line": number, "chars": f"{MAX_LINE:,}".replace(",", " ")}
            )
        yield line


@dataclass(frozen=True)
class Limits:
    max_rows: int
    first: int | None = None  # read only this many rows, without complaint


def _header_and_rows(lines, limits):
    """The first non-empty line is the header; the rest are numbered rows.
    Every row read counts: the header must come within HEADER_WITHIN_ROWS
    rows, and the rows after it, empty ones included, stop the reading at one
    over the limit (or at `first`)."""
    headers, rows = None, []
    for number, cells in enumerate(lines, start=1):
        if headers is None:
            if any(cells):
                headers = cells
            elif number >= HEADER_WITHIN_ROWS:
                raise ImportFileError(
                    _(
                        "The first %(rows)s rows of the file are empty. The first row must "
                        "name the columns."
                    )
                    % {"rows": HEADER_WITHIN_ROWS}
                )
            continue
        if limits.first is not None:
            if len(rows) >= limits.first:
                break
        elif len(rows) >= limits.max_rows:
            raise _too_many_rows(limits.max_rows)
        rows.append((number, cells))
    return headers or [], rows


#: The sniffer reads at most this much of the file: its regular expressions
#: take time that grows with the square of a line's length (a crafted 64 KB
#: line took a minute; 4 KB, under half a second), and the first lines of
#: any real file fit.
SNIFF_CHARS = 4096


def _sniff_delimiter(text):
    sample = "\n".join(text.lstrip("\ufeff")[:SNIFF_CHARS].splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = next((line for line in sample.splitlines() if line.strip()), "")
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


#: A workbook is a zip file; openpyxl holds some of its parts in memory
#: whole, so a small file that unpacks to gigabytes (a "zip bomb") is refused
#: from its table of contents, before anything is unpacked.
MAX_UNPACKED_BYTES = 300 * 1024 * 1024

#: Each part of a workbook is also limited on its own, by what the largest
#: file accepted needs (IMPORT_MAX_ROWS rows of MAX_COLUMNS + 1 cells), so
#: that the time to read it is bounded and not only its size. A sheet is read
#: row by row: 40 bytes a cell, as a cell holding a reference to a text takes
#: (`<c r="BI50000" t="s"><v>1234567</v></c>`). Every other part (the shared
#: strings above all, but also the styles and the workbook itself) is read
#: whole when the workbook is opened: 4 bytes a cell of the largest sheet, 12
#: MB for 50,000 rows. A file of 50,000 customers, each with an email, a
#: street address and a phone number of its own, has about 5.5 MB of shared
#: strings (17 bytes of XML a text; names, postal codes and towns repeat).
#: A MB each in any case (a workbook's styles and properties).
SHEET_CELL_BYTES = 40
PART_CELL_BYTES = 4
MIN_PART_BYTES = 1024 * 1024


def _part_limits(max_rows):
    """The largest sheet and the largest other part of a workbook, in bytes unpacked."""
    cells = max_rows * (MAX_COLUMNS + 1)
    return (
        max(cells * SHEET_CELL_BYTES, MIN_PART_BYTES),
        max(cells * PART_CELL_BYTES, MIN_PART_BYTES),
    )


def _is_sheet(name):
    """A worksheet where every spreadsheet program writes them. A sheet
    elsewhere gets the smaller limit of the other parts."""
    return name.startswith("xl/worksheets/") and name.count("/") == 2 and name.endswith(".xml")


def _damaged_workbook():
    return ImportFileError(
        _(
            "The workbook is damaged and cannot be read. Open it in Excel and save it "
            "again, or save it as “CSV UTF-8”."
        )
    )


def _check_parts(content, limits):
    """Refuse a workbook from its table of contents: too large unpacked, as a
    whole or any of its parts."""
    try:
        parts = zipfile.ZipFile(io.BytesIO(content)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise _damaged_workbook() from error
    if sum(item.file_size for item in parts) > MAX_UNPACKED_BYTES:
        raise ImportFileError(
            _("The workbook is too large when unpacked. Save it as CSV, or split it.")
        )
    sheet_limit, part_limit = _part_limits(limits.max_rows)
    for item in parts:
        if item.file_size > (sheet_limit if _is_sheet(item.filename) else part_limit):
            raise ImportFileError(
                _(
                    "The workbook is larger when unpacked than %(rows)s rows need "
                    "(%(part)s). Delete its empty rows, columns and other sheets, save it "
                    "as “CSV UTF-8”, or split it."
                )
                % {
                    "rows": f"{limits.max_rows:,}".replace(",", " "),
                    "part": _plain_part_name(item.filename),
                }
            )


def _plain_part_name(name):
    return "".join(ch if ch.isprintable() else "?" for ch in name)[:80]


class _EntitiesForbidden(ValueError):
    """An XML entity declaration: never expanded (as defusedxml refuses them)."""


def _forbid_entities(*args):
    raise _EntitiesForbidden("XML entities are not allowed")


_SI = f"{SHEET_MAIN_NS} si"
_T = f"{SHEET_MAIN_NS} t"
_PHONETIC = f"{SHEET_MAIN_NS} rPh"


def read_shared_strings(source):
    """The texts of a workbook's shared strings part, as openpyxl's own reader
    gives them (a plain text, or the runs of a rich text joined; phonetic
    runs left out), read by expat directly: openpyxl builds objects for each
    (21 µs a text: three million took a minute), this takes 3 µs. Entity
    declarations are refused, as openpyxl's defusedxml parser does."""
    strings, parts, open_tags = [], [], []
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.EntityDeclHandler = _forbid_entities
    parser.UnparsedEntityDeclHandler = _forbid_entities
    parser.ExternalEntityRefHandler = _forbid_entities

    def start(tag, attributes):
        open_tags.append(tag)
        if tag == _SI:
            parts.clear()

    def end(tag):
        open_tags.pop()
        if tag == _SI:
            strings.append("".join(parts).replace("x005F_", ""))

    def text(data):
        if open_tags and open_tags[-1] == _T and _PHONETIC not in open_tags:
            parts.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.ParseFile(source)
    return strings


#: Tags in one row of a sheet at most: Excel's widest row of formatted
#: empty cells (16,384 of `<c r="XFD1" s="1"/>`), twice over. openpyxl builds
#: a whole row in memory before it gives its first cell: one row of a million
#: cells (a 34 KB file) took 18 s and 500 MB.
MAX_ROW_TAGS = 16_384 * 2

#: Tags read at most from a sheet for its first rows (the upload): a hundred
#: rows of 16,384 formatted empty cells before the header took 9 s to read.
#: The header and first rows of any real file have a few thousand.
FIRST_ROWS_TAGS = MAX_ROW_TAGS * 4

_ROW_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s>/]")


def _too_many_cells():
    return ImportFileError(
        _(
            "The workbook has more cells than its rows need, far to the right or "
            "below (formatting, for example). Delete the empty rows and columns "
            "around the customers, or save it as “CSV UTF-8”."
        )
    )


class _BoundedSheetSource:
    """A sheet's XML as openpyxl reads it, refused as soon as one row holds
    more than MAX_ROW_TAGS tags, or all that is read more than `budget`
    (`<` counted, between row starts; a row start split between two reads is
    missed, which only counts two rows as one)."""

    def __init__(self, source, budget=None):
        self.source, self.budget = source, budget
        self.row_tags = self.tags = 0

    def read(self, size=-1):
        data = self.source.read(size)
        counted = 0
        for row in _ROW_START.finditer(data):
            self._count(data.count(b"<", counted, row.start()))
            self.row_tags, counted = 0, row.start()
        self._count(data.count(b"<", counted))
        return data

    def _count(self, tags):
        self.row_tags += tags
        self.tags += tags
        if self.row_tags > MAX_ROW_TAGS or (self.budget and self.tags > self.budget):
            raise _too_many_cells()

    def close(self):
        self.source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class _Sheet(ReadOnlyWorksheet):
    """A sheet read row by row, whose declared size is never read: openpyxl
    looks for it when the workbook is opened, and when the sheet does not
    declare it, reads the whole sheet to its end (a sheet of a million rows
    without it took 45 s before its first row was read). A declared size may
    also lie (1,048,576 rows of 16,384 columns): rows are read as they come,
    MAX_COLUMNS + 1 cells wide, none longer than MAX_ROW_TAGS, and at most
    `tag_budget` tags in all."""

    tag_budget = None

    def _get_size(self):
        pass

    def _get_source(self):
        return _BoundedSheetSource(super()._get_source(), self.tag_budget)


class _WorkbookReader(ExcelReader):
    """openpyxl's reader (read-only), with the shared strings read by
    read_shared_strings and the sheets as _Sheet."""

    def read_strings(self):
        part = self.package.find(SHARED_STRINGS)
        if part is not None:
            with self.archive.open(part.PartName[1:]) as source:
                self.shared_strings = read_shared_strings(source)

    def read_worksheets(self):
        # As ExcelReader.read_worksheets does in read-only mode; chart sheets
        # keep their places, which the workbook's names refer to.
        for sheet, rel in self.parser.find_sheets():
            if rel.target not in self.valid_files:
                continue
            if "chartsheet" in rel.Type:
                self.read_chartsheet(sheet, rel)
                continue
            worksheet = _Sheet(self.wb, sheet.name, rel.target, self.shared_strings)
            worksheet.sheet_state = sheet.state
            self.wb._sheets.append(worksheet)


def _read_xlsx(content, limits):
    _check_parts(content, limits)
    # A damaged or hostile workbook fails in many ways inside openpyxl, when it
    # is opened and row by row: a missing part (KeyError), XML that is not
    # well-formed or expands entities beyond expat's limit (ElementTree's
    # ParseError, a SyntaxError; expat's ExpatError), entities at all
    # (defusedxml, which openpyxl uses when it is installed: EntitiesForbidden,
    # a ValueError; ours in the shared strings), and TypeError, ValueError,
    # IndexError... from the contents. Each is a damaged file to the user.
    try:
        # data_only=False: a formula comes as its text ("=HYPERLINK(…)") and is
        # imported as plain text, never evaluated.
        reader = _WorkbookReader(io.BytesIO(content), read_only=True, data_only=False)
        reader.read()
        workbook = reader.wb
    except Exception as error:
        raise _damaged_workbook() from error
    try:
        sheet = workbook.worksheets[0]
        if limits.first is not None:
            sheet.tag_budget = FIRST_ROWS_TAGS
        # Each row only as wide as the widest allowed, however far to the
        # right its last cell is (one cell in column XFD made every row
        # 16,384 cells).
        headers, rows = _header_and_rows(
            (
                [_xlsx_cell(value) for value in values]
                for values in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1)
            ),
            limits,
        )
    except ImportFileError:
        raise
    except Exception as error:
        raise _damaged_workbook() from error
    finally:
        workbook.close()
    return _table(headers, rows, "xlsx")


def _xlsx_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime.datetime):
        value = value.date() if value.time() == datetime.time() else value
    if isinstance(value, datetime.date):
        return value.isoformat()
    return _cell_text(getattr(value, "text", value))


def _cell_text(value):
    text = " ".join(str(value).split()) if value is not None else ""
    # A leading apostrophe is how our own exports make a cell inert; a file
    # exported here and imported again gets its values back.
    if text.startswith("'") and is_formula(text[1:]):
        text = text[1:]
    return text[:MAX_CELL]


def _table(headers, rows, file_format, encoding="", delimiter=""):
    while headers and not headers[-1]:
        headers = headers[:-1]
    if len(headers) > MAX_COLUMNS:
        raise ImportFileError(
            _("The file has more than %(columns)s columns.") % {"columns": MAX_COLUMNS}
        )
    width = len(headers)
    headers = [
        header or _("Column %(number)s") % {"number": i + 1} for i, header in enumerate(headers)
    ]
    # In place: a padded copy of every row held the file's cells twice at
    # the end of the reading, the peak of a preview's memory (the cells of
    # 2,000 rows of a workbook: 1.3 KB a row at the peak, 0.7 KB held).
    kept = 0
    for number, cells in rows:
        if any(cells):
            cells.extend([""] * (width - len(cells)))
            del cells[width:]
            rows[kept] = (number, cells)
            kept += 1
    del rows[kept:]
    return Table(headers, rows, file_format, encoding, delimiter)
