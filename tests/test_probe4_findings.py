"""Holes found by the fourth outside probe (a small crafted upload kept a
web worker busy for half a minute or more), each with a test that failed
before its fix. Every file is crafted here, small, with zipfile and csv."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.translation import override
from openpyxl.reader.excel import ExcelReader
from openpyxl.reader.strings import read_string_table
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from registry.imports import reading, services
from registry.imports.models import CustomerImport, UnsubscribeImport
from registry.imports.reading import ImportFileError, read_table

from .factories import CustomerImportFactory
from .test_imports import HEADER, csv_bytes, person, xlsx_bytes

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHARED_STRINGS_TYPE = (
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)


def workbook(sheet_rows=None, shared_strings=None, shared_strings_part=None, dimension=True):
    """A workbook of HEADER and one person, with its sheet's rows (XML) and
    its shared strings (or their whole part) replaced, as an attacker would
    write them."""
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes([HEADER, person()])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "[Content_Types].xml" and shared_strings is not None:
                data = data.replace(b"</Types>", SHARED_STRINGS_TYPE.encode() + b"</Types>")
            if item.filename == "xl/worksheets/sheet1.xml" and sheet_rows is not None:
                # A dimension that lies, or none.
                size = '<dimension ref="A1:XFD1048576"/>' if dimension else ""
                data = (
                    f'<worksheet xmlns="{MAIN}">{size}'
                    f"<sheetData>{sheet_rows}</sheetData></worksheet>"
                ).encode()
            target.writestr(item.filename, data)
        if shared_strings is not None:
            target.writestr(
                "xl/sharedStrings.xml",
                shared_strings_part or f'<sst xmlns="{MAIN}">{shared_strings}</sst>'.encode(),
            )
    return out.getvalue()


def text_row(number, values, first_column=0):
    cells = "".join(
        f'<c r="{chr(65 + first_column + i)}{number}" t="inlineStr"><is><t>{value}</t></is></c>'
        for i, value in enumerate(values)
    )
    return f'<row r="{number}">{cells}</row>'


def never_opened(monkeypatch):
    monkeypatch.setattr(ExcelReader, "read", lambda self: pytest.fail("the workbook was opened"))


def test_the_shared_strings_of_a_workbook_are_limited_on_their_own(settings, monkeypatch):
    """A 125 KB file of 3,000,000 `<si><t>a</t></si>` (51 MB unpacked) took a
    minute when the workbook was opened, under the 300 MB limit of the whole."""
    settings.IMPORT_MAX_ROWS = 10  # its parts may then be 1 MB each
    content = workbook(shared_strings="<si><t>a</t></si>" * 65_000)
    assert len(content) < 20_000
    never_opened(monkeypatch)
    with override("en"), pytest.raises(ImportFileError, match="larger when unpacked than 10"):
        read_table(content, first=3)


def test_a_sheet_is_limited_on_its_own(settings, monkeypatch):
    settings.IMPORT_MAX_ROWS = 10
    rows = "".join(f'<row r="{n}"><c r="A{n}"><v>1</v></c></row>' for n in range(1, 30_000))
    content = workbook(sheet_rows=rows)
    never_opened(monkeypatch)
    with override("en"), pytest.raises(ImportFileError, match=r"xl/worksheets/sheet1\.xml"):
        read_table(content, first=3)


def test_one_cell_far_to_the_right_does_not_widen_every_row(monkeypatch):
    """One cell in column XFD (and a sheet that says it is 16,384 columns
    wide) made openpyxl give every row as 16,384 cells."""
    widths = []
    get_row = ReadOnlyWorksheet._get_row
    monkeypatch.setattr(
        ReadOnlyWorksheet,
        "_get_row",
        lambda *args, **kwargs: widths.append(len(row := get_row(*args, **kwargs))) or row,
    )
    rows = (
        text_row(1, HEADER)
        + '<row r="2"><c r="XFD2"><v>1</v></c></row>'
        + text_row(3, person())
        + text_row(5, person(first="Eino"))
    )
    table = read_table(workbook(sheet_rows=rows))
    assert table.headers == HEADER
    assert [number for number, _cells in table.rows] == [3, 5]
    assert widths and max(widths) == reading.MAX_COLUMNS + 1


def test_a_sheet_without_its_size_is_not_read_to_its_end_when_opened():
    """openpyxl looks for the size a sheet declares when the workbook is
    opened, and without one read the whole sheet: a million rows took 45 s
    before the first was read. Here the sheet's end is broken: the first rows
    can be read (the upload), the whole sheet cannot (the worker's check)."""
    rows = text_row(1, HEADER) + "".join(text_row(n, person()) for n in range(2, 2000))
    content = workbook(sheet_rows=rows + "<broken", dimension=False)
    assert read_table(content, first=3).rows == [(2, person()), (3, person()), (4, person())]
    with override("en"), pytest.raises(ImportFileError, match="damaged"):
        read_table(content)


def test_a_row_of_too_many_cells_is_refused_as_it_is_read():
    """openpyxl builds a whole row before it gives its first cell: one row of
    a million cells (a 34 KB file) took 18 s and 500 MB."""
    rows = text_row(1, HEADER) + '<row r="2">' + "<c><v>1</v></c>" * 20_000 + "</row>"
    content = workbook(sheet_rows=rows + text_row(3, person()))
    assert len(content) < 20_000
    with override("en"), pytest.raises(ImportFileError, match="more cells than its rows need"):
        read_table(content)
    # A row of Excel's full width of formatted empty cells is read.
    wide = "".join(f'<c r="{get_column_letter(n)}2" s="0"/>' for n in range(1, 16_385))
    rows = text_row(1, HEADER) + f'<row r="2">{wide}</row>' + text_row(3, person())
    assert read_table(workbook(sheet_rows=rows)).rows == [(3, person())]


def test_the_first_rows_are_read_within_a_budget_of_cells():
    """A hundred rows of 16,384 formatted empty cells before the header (each
    row within the limit above) took 9 s to read for the upload."""
    wide = '<c s="0"/>' * 16_000
    rows = "".join(f'<row r="{n}">{wide}</row>' for n in range(1, 10))
    content = workbook(sheet_rows=rows + text_row(10, HEADER) + text_row(11, person()))
    with override("en"), pytest.raises(ImportFileError, match="more cells than its rows need"):
        read_table(content, first=3)


def test_empty_rows_before_the_header_count_towards_a_limit():
    """A workbook of a million empty rows with the header in the last one was
    read to its end to find the header (half a minute)."""
    rows = text_row(1_048_000, HEADER) + text_row(1_048_001, person())
    with (
        override("en"),
        pytest.raises(ImportFileError, match="first 100 rows of the file are empty"),
    ):
        read_table(workbook(sheet_rows=rows), first=3)
    with (
        override("en"),
        pytest.raises(ImportFileError, match="first 100 rows of the file are empty"),
    ):
        read_table(b";;\n" * 150 + csv_bytes([HEADER, person()]))
    # A few empty rows before the header are fine.
    assert read_table(b";;\n" * 5 + csv_bytes([HEADER, person()])).rows == [(7, person())]


def test_a_csv_line_of_a_million_delimiters_is_refused_before_it_is_split():
    """A line of 10^6 delimiters before the header took 11 s to upload and
    10 s for each view of the mapping page."""
    content = b";" * 200_000 + b"\n" + csv_bytes([HEADER, person()])
    with override("en"), pytest.raises(ImportFileError, match="Line 1 of the file is longer"):
        read_table(content, first=3)


def test_a_wide_csv_record_is_cut_before_its_cells_are_read(monkeypatch):
    looked_at = []
    cell_text = reading._cell_text
    monkeypatch.setattr(
        reading, "_cell_text", lambda value: looked_at.append(value) or cell_text(value)
    )
    content = csv_bytes([[*HEADER, *[""] * 10_000], person()])
    table = read_table(content)
    assert table.headers == HEADER and table.rows == [(2, person())]
    assert len(looked_at) <= 2 * (reading.MAX_COLUMNS + 1)


SHARED = (
    "<si><t>Aino</t></si>"
    '<si><r><t>Äijä</t></r><r><rPr><b/></rPr><t xml:space="preserve">lä </t></r></si>'
    "<si><t>漢字</t><rPh sb='0' eb='1'><t>カンジ</t></rPh></si>"
    "<si><t>a_x005F_x000D_b</t></si>"
    "<si><t/></si>"
)


def test_shared_strings_are_read_as_openpyxl_reads_them():
    xml = f'<sst xmlns="{MAIN}">{SHARED}</sst>'.encode()
    ours = reading.read_shared_strings(io.BytesIO(xml))
    assert ours == list(read_string_table(io.BytesIO(xml)))
    assert ours == ["Aino", "Äijälä ", "漢字", "a_x000D_b", ""]


def test_entities_in_the_shared_strings_are_refused():
    laughs = (
        f'<!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        f'<sst xmlns="{MAIN}"><si><t>&b;</t></si></sst>'
    )
    with pytest.raises(ValueError, match="entities"):
        reading.read_shared_strings(io.BytesIO(laughs.encode()))
    content = workbook(shared_strings="", shared_strings_part=laughs.encode())
    with override("en"), pytest.raises(ImportFileError, match="damaged"):
        read_table(content)


def post_file(client, url_name, content, name):
    return client.post(reverse(url_name), {"file": SimpleUploadedFile(name, content)})


HOSTILE_UPLOADS = {
    "shared strings": (lambda: workbook(shared_strings="<si><t>a</t></si>" * 65_000), "x.xlsx"),
    "a long line": (lambda: b";" * 100_000 + b"\nEmail\na@example.invalid\n", "x.csv"),
    "empty rows": (lambda: b"\n" * 200 + b"Email\na@example.invalid\n", "x.csv"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("make, name", HOSTILE_UPLOADS.values(), ids=HOSTILE_UPLOADS)
def test_crafted_uploads_are_refused_beside_the_file_field(
    client, staff_member, register_manager, settings, make, name
):
    """The customer import and the unsubscribe import read files alike."""
    settings.IMPORT_MAX_ROWS = 10
    content = make()
    for user, url_name in [
        (staff_member, "registry:import-upload"),
        (register_manager, "registry:unsubscribe-upload"),
    ]:
        client.force_login(user)
        response = post_file(client, url_name, content, name)
        assert response.status_code == 200
        assert response.context["form"].errors["file"]
    assert not CustomerImport.objects.exists() and not UnsubscribeImport.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("immediate_tasks")
def test_the_mapping_page_does_not_read_the_file_again(client, staff_member, monkeypatch):
    """Every view of the mapping page read the file's first rows again for
    the examples beside each column: 10 s a view for the long line above,
    6.6 s for a workbook of 100,000 narrow rows."""
    client.force_login(staff_member)
    response = post_file(
        client,
        "registry:import-upload",
        csv_bytes([HEADER, person(), person(first="Eino")]),
        "asiakkaat.csv",
    )
    customer_import = CustomerImport.objects.get()
    assert response.url == customer_import.get_absolute_url()
    # A new preview of the same mapping keeps the examples.
    data = {f"column_{i}": target for i, target in enumerate(customer_import.mapping)}
    data.update(source="web_registration", consent_method="web_form", preview="1")
    client.post(customer_import.get_absolute_url(), data)

    monkeypatch.setattr(services, "read_table", lambda *a, **k: pytest.fail("the file was read"))
    response = client.get(customer_import.get_absolute_url())
    assert response.status_code == 200 and response.context["preview"] is not None
    form = response.context["form"]
    assert "Aino, Eino" in str(form["column_0"].help_text)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content, example",
    [
        (b"Etunimi;Sukunimi;S\xc3\xa4hk\xc3\xb6posti\nAino;Aalto;aino@example.invalid\n", "Aino"),
        # Accepted before the bounds, refused now: the page shows no examples.
        (b";" * 70_000 + b"\nEtunimi;Sukunimi;Email\nAino;Aalto;a@example.invalid\n", None),
    ],
    ids=["readable", "refused now"],
)
def test_an_import_uploaded_before_the_examples_were_kept(client, staff_member, content, example):
    customer_import = CustomerImportFactory(
        status="pending", applied_at=None, rejected_rows=[], content=content, mapping=["", "", ""]
    )
    client.force_login(staff_member)
    response = client.get(customer_import.get_absolute_url())
    assert response.status_code == 200
    help_text = str(response.context["form"]["column_0"].help_text)
    assert (example in help_text) if example else not help_text
