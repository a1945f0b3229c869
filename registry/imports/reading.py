"""Reading an uploaded file: bytes of a CSV or XLSX -> a header and rows of
text, or an ImportFileError saying in plain words what is wrong with it."""

import csv
import datetime
import io
import re
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _
from openpyxl import load_workbook

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
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        # Numbered by record, as a spreadsheet numbers its rows (a quoted cell
        # may span lines).
        headers, rows = _header_and_rows(
            ([_cell_text(cell) for cell in record] for record in reader), limits
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


@dataclass(frozen=True)
class Limits:
    max_rows: int
    first: int | None = None  # read only this many rows, without complaint


def _header_and_rows(lines, limits):
    """The first non-empty line is the header; the rest are numbered rows.
    Stops reading at one row over the limit."""
    headers, rows = None, []
    for number, cells in enumerate(lines, start=1):
        if headers is None:
            if any(cells):
                headers = cells
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


def _damaged_workbook():
    return ImportFileError(
        _(
            "The workbook is damaged and cannot be read. Open it in Excel and save it "
            "again, or save it as “CSV UTF-8”."
        )
    )


def _read_xlsx(content, limits):
    try:
        unpacked = sum(item.file_size for item in zipfile.ZipFile(io.BytesIO(content)).infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise _damaged_workbook() from error
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportFileError(
            _("The workbook is too large when unpacked. Save it as CSV, or split it.")
        )
    # A damaged or hostile workbook fails in many ways inside openpyxl, when it
    # is opened and row by row: a missing part (KeyError), XML that is not
    # well-formed or expands entities beyond expat's limit (ElementTree's
    # ParseError, a SyntaxError), entities at all (defusedxml, which openpyxl
    # uses when it is installed: EntitiesForbidden, a ValueError), and
    # TypeError, ValueError, IndexError... from the contents. Each is a damaged
    # file to the user.
    try:
        # data_only=False: a formula comes as its text ("=HYPERLINK(…)") and is
        # imported as plain text, never evaluated.
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception as error:
        raise _damaged_workbook() from error
    try:
        sheet = workbook.worksheets[0]
        headers, rows = _header_and_rows(
            (
                [_xlsx_cell(value) for value in values[: MAX_COLUMNS + 1]]
                for values in sheet.iter_rows(values_only=True)
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
    rows = [(number, (cells + [""] * width)[:width]) for number, cells in rows if any(cells)]
    return Table(headers, rows, file_format, encoding, delimiter)
