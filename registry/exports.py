"""Files that leave the register: streamed, and safe to open in a spreadsheet."""

import csv
import io
import os
import tempfile
import unicodedata

from django.http import FileResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from .xlsx import xlsx_write

#: A cell starting with one of these is, or may become, a formula to Excel,
#: LibreOffice or Google Sheets (OWASP's "CSV injection" list: the full-width
#: equals, plus, minus and at, U+FF1D, U+FF0B, U+FF0D and U+FF20, are read as
#: their ASCII twins by some of them; a leading line feed, like the carriage
#: return, can hide a formula on the cell's next line).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
#: Blanks a spreadsheet may skip before a formula (" =1+1", a no-break space
#: first): every Unicode space and the zero-width characters. A cell starting
#: with them and then one of FORMULA_STARTS is made inert too.
BLANKS = "".join(
    sorted(
        # U+3000, the ideographic space, is the last of the Unicode spaces.
        {chr(c) for c in range(0x3001) if chr(c).isspace()} | set("\u200b\u200c\u200d\u2060\ufeff")
    )
)
_BLANK_FIRST = frozenset(BLANKS)


def is_formula(text):
    """Whether a spreadsheet could read the text as a formula: its first
    character, or its first after blanks, is one of FORMULA_STARTS."""
    first = text[:1]
    if first in _FORMULA_FIRST:
        return True
    return first in _BLANK_FIRST and text.lstrip(BLANKS)[:1] in _FORMULA_FIRST


def inert_sql(column):
    """(sql, params) of neutralise() in PostgreSQL for a text column: what
    the COPY export writes (tests/test_formula_cells.py holds the two
    together over every blank and every formula start). ascii() is the code
    of the first character, 0 for an empty text. Most cells start with a
    printable ASCII character that starts no formula (the second branch), so
    only a cell starting with a blank is trimmed and looked at again."""
    formula_codes = tuple(map(ord, FORMULA_STARTS))
    sql = (
        f"CASE WHEN ascii({column}) IN %s THEN '''' || {column} "
        f"WHEN ascii({column}) BETWEEN 33 AND 126 THEN {column} "
        f"WHEN ascii({column}) IN %s AND ascii(ltrim({column}, %s)) IN %s "
        f"THEN '''' || {column} ELSE {column} END"
    )
    return sql, [formula_codes, tuple(map(ord, BLANKS)), BLANKS, formula_codes]


def neutralise(value):
    """Make a cell inert: a leading apostrophe turns a would-be formula into text."""
    text = "" if value is None else str(value)
    return "'" + text if is_formula(text) else text


def inert_row(row):
    """neutralise() for a whole row, without a call per text cell (a
    whole-register export has two million cells): only a cell starting with
    a blank takes the longer look."""
    return [
        (
            "'" + cell
            if cell[:1] in _FORMULA_FIRST or (cell[:1] in _BLANK_FIRST and is_formula(cell))
            else cell
        )
        if cell.__class__ is str
        else neutralise(cell)
        for cell in row
    ]


def safe_file_name(name):
    """A download's file name without control or format characters: a name
    made from typed text (an uploaded file's) could hold a right-to-left
    override (U+202E), which shows a file's name backwards from it, as of
    another kind, or invisible characters. Path separators become hyphens."""
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf"})
    return name.replace("/", "-").replace("\\", "-")


def csv_response(filename, header, rows, *, rows_per_chunk=500):
    """Stream rows as CSV that Excel opens correctly (UTF-8 with BOM, `;`
    as in Finnish Excel), every cell neutralised. Memory stays flat however
    many rows there are; rows go out a few hundred at a time (one chunk per
    row cost a third of a whole-register export)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")

    def take():
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    def lines():
        buffer.write("\ufeff")
        writer.writerow(inert_row(header))
        for count, row in enumerate(rows, start=1):
            writer.writerow(inert_row(row))
            if count % rows_per_chunk == 0:
                yield take()
        yield take()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    # Quoted, and non-ASCII names (Äijälä) as RFC 6266's filename*.
    response["Content-Disposition"] = content_disposition_header(True, safe_file_name(filename))
    return response


def xlsx_file_response(filename, header, rows):
    """An XLSX written row by row into a temporary file (registry/xlsx.py),
    which is then streamed. Memory stays flat."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it when sent
    xlsx_write(spool, _inert_with_header(header, rows))
    spool.seek(0)
    return FileResponse(
        spool,
        as_attachment=True,
        filename=safe_file_name(filename),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _inert_with_header(header, rows):
    yield inert_row(header)
    for row in rows:
        yield inert_row(row)


def _private_file(path):
    """A new file at `path`, readable by this user only (mode 600, never another's)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def export_file_write(path, file_format, header, rows):
    """Write rows into a new file at `path` (mode 600) as csv_response or
    xlsx_file_response would send them. Returns the number of rows."""
    descriptor = _private_file(path)
    count = 0
    if file_format == "xlsx":
        with os.fdopen(descriptor, "wb") as file:
            return xlsx_write(file, _inert_with_header(header, rows)) - 1
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
        file.write("\ufeff")
        writer = csv.writer(file, delimiter=";")
        writer.writerow(inert_row(header))
        for count, row in enumerate(rows, start=1):  # noqa: B007
            writer.writerow(inert_row(row))
    return count


#: How a line of PostgreSQL's COPY ends: the last column is a carriage return,
#: which COPY quotes. No cell can hold these bytes: a quote inside a quoted
#: cell is doubled, a quoted cell ends before `;` or the newline, and a cell
#: starting with a carriage return gets an apostrophe first (neutralise).
COPY_LINE_END = b';"\r"\n'


#: How much of COPY's output is gathered before it is written to the file.
COPY_WRITE_BYTES = 1 << 20


class _CopyTarget:
    """Where COPY ... TO STDOUT writes its lines: turned into the csv module's
    (`\r\n` after each row) and written a megabyte at a time."""

    def __init__(self, file):
        self.file, self.parts, self.size, self.count = file, [], 0, 0

    def write(self, data):
        self.parts.append(data)
        self.size += len(data)
        if self.size >= COPY_WRITE_BYTES:
            self.flush()

    def flush(self):
        chunk = b"".join(self.parts)
        self.count += chunk.count(COPY_LINE_END)
        self.file.write(chunk.replace(COPY_LINE_END, b"\r\n"))
        self.parts, self.size = [], 0


def export_file_copy(path, header, cursor, selects):
    """Write a CSV file at `path` (mode 600) as export_file_write would, its
    rows from PostgreSQL's COPY of each SELECT of `selects`, (sql, params)
    in turn: text columns already made inert, empty cells as NULL (COPY
    quotes an empty text), and a last column of one carriage return
    (COPY_LINE_END). Returns the number of rows."""
    with os.fdopen(_private_file(path), "wb") as file:
        head = io.StringIO()
        head.write("\ufeff")
        csv.writer(head, delimiter=";").writerow(inert_row(header))
        file.write(head.getvalue().encode())
        target = _CopyTarget(file)
        for sql, params in selects:
            # The SELECT is the caller's, with its parameters bound by psycopg2.
            query = cursor.mogrify(sql, params).decode()
            cursor.copy_expert(
                f"COPY ({query}) TO STDOUT WITH (FORMAT csv, DELIMITER ';')", target
            )
        target.flush()
    return target.count
