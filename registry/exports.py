"""Files that leave the register: streamed, and safe to open in a spreadsheet."""

import csv
import tempfile

from django.http import FileResponse, StreamingHttpResponse

#: A cell starting with one of these is a formula to Excel and LibreOffice.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """Make a cell inert: a leading apostrophe turns a would-be formula into text."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


class _Echo:
    def write(self, value):
        return value


def csv_response(filename, header, rows):
    """Stream rows as CSV that Excel opens correctly (UTF-8 with BOM, `;`
    as in Finnish Excel), every cell neutralised. Memory stays flat however
    many rows there are."""
    writer = csv.writer(_Echo(), delimiter=";")

    def lines():
        yield "\ufeff" + writer.writerow([neutralise(cell) for cell in header])
        for row in rows:
            yield writer.writerow([neutralise(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_file_response(filename, header, rows):
    """An XLSX built in openpyxl's write-only mode, which writes rows to a
    temporary file as they come; the file is then streamed. Memory stays flat."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append([neutralise(cell) for cell in header])
    for row in rows:
        sheet.append([neutralise(cell) for cell in row])
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it when sent
    workbook.save(spool)
    spool.seek(0)
    return FileResponse(
        spool,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
