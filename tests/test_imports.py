"""Import of customers from CSV and XLSX files: reading, checking, writing, undo."""

import csv
import datetime
import gc
import io
import re
import zipfile

import openpyxl
import pytest
from defusedxml import EntitiesForbidden
from django.core.management import CommandError, call_command, load_command_class
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import override
from openpyxl import Workbook

from registry.audit.models import AuditEvent
from registry.exports import neutralise
from registry.forms import CustomerFieldsForm
from registry.imports import reading, writing
from registry.imports.analysis import (
    CustomerRowValidator,
    ImportOptions,
    Outcome,
    analyse,
    guess_mapping,
    split_full_name,
)
from registry.imports.models import CustomerImport
from registry.imports.reading import ImportFileError, read_table
from registry.imports.services import (
    ImportStateError,
    import_apply,
    import_undo,
    import_upload,
    imports_expire,
)
from registry.models import Consent, ConsentText, Customer
from registry.rights.erasure import customer_erase
from registry.rights.selectors import access_report
from registry.services import CUSTOMER_FIELDS, consent_record, customer_update

from .factories import (
    CourseFactory,
    CustomerFactory,
    DataSubjectRequestFactory,
    EnrollmentFactory,
)

HEADER = [
    "Etunimi",
    "Sukunimi",
    "Sähköposti",
    "Puhelin",
    "Katuosoite",
    "Postinumero",
    "Postitoimipaikka",
]


def csv_bytes(rows, *, delimiter=";", encoding="utf-8"):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows):
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def person(first="Aino", last="Äijälä", email="aino.aijala@example.invalid", phone="040 111 2233"):
    return [first, last, email, phone, "Kauppakatu 1", "80100", "Joensuu"]


def check(rows, *, header=HEADER, options=None):
    table = read_table(csv_bytes([header, *rows]))
    with override("en"):
        return analyse(table, guess_mapping(table.headers), options or ImportOptions())


# --- Reading files -------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"], ids=lambda e: e)
def test_encodings_as_spreadsheets_write_them(encoding):
    table = read_table(csv_bytes([HEADER, person()], encoding=encoding))
    assert table.headers[2] == "Sähköposti"
    assert table.rows == [(2, person())]


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"], ids=repr)
def test_delimiters_are_recognised(delimiter):
    table = read_table(csv_bytes([HEADER, person(), person(first="Eino")], delimiter=delimiter))
    assert table.delimiter == delimiter
    assert [cells[0] for _number, cells in table.rows] == ["Aino", "Eino"]


def test_the_delimiter_is_guessed_from_the_start_of_the_file_only(monkeypatch):
    """csv.Sniffer's time grows with the square of a line's length (a crafted
    64 KB line of quotes took a minute): it sees at most SNIFF_CHARS."""
    seen = []
    sniff = csv.Sniffer.sniff
    monkeypatch.setattr(
        csv.Sniffer,
        "sniff",
        lambda self, sample, **kw: seen.append(sample) or sniff(self, sample, **kw),
    )
    hostile = (";".join(HEADER) + "\n" + ',"' * 32_768 + "\n").encode()
    # The line is longer than any row may be (refused since the fourth
    # probe), but only after the delimiter is guessed.
    with pytest.raises(ImportFileError):
        read_table(hostile)
    assert len(seen) == 1 and len(seen[0]) <= reading.SNIFF_CHARS


def test_rows_are_numbered_as_a_spreadsheet_shows_them():
    content = csv_bytes([HEADER, person(), ["", "", "", "", "", "", ""], person(first="Eino")])
    assert [number for number, _cells in read_table(content).rows] == [2, 4]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            [
                "Etunimi",
                "Sukunimi",
                "Sähköposti",
                "Puhelin",
                "Lähiosoite",
                "Postinro",
                "Paikkakunta",
            ],
            ["first_name", "last_name", "email", "phone", "street_address", "postal_code", "city"],
        ),
        (
            [
                "First name",
                "LAST_NAME",
                "E-mail address",
                "Mobile",
                "Address",
                "ZIP",
                "Town",
                "Country",
            ],
            list(CUSTOMER_FIELDS[:8]),
        ),
        (
            [
                "Nimi",
                "sähköposti-osoite:",
                "Uutiskirje",
                "Suoramarkkinointikielto",
                "Muistiinpanot",
            ],
            ["full_name", "email", "email_consent", "objection", ""],
        ),
        # The second column claiming the same field is left out.
        (["Sähköposti", "Email"], ["email", ""]),
    ],
)
def test_headers_are_recognised_in_finnish_and_english(headers, expected):
    assert guess_mapping(headers) == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"   \n  ", "empty"),
        (b"Etunimi;Sukunimi\n", "no customers"),
        (b'Etunimi;Sukunimi\n"Aino;Virtanen\n', "quotation marks"),
        (b'Etunimi;Sukunimi\n"Aino"x;Virtanen\n', "quotation marks"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01", "not a CSV or XLSX"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Excel 97-2003"),
        (b"PK\x03\x04 not really a workbook", "damaged"),
        (b"%PDF-1.7\n\x00\x01\x02\x03\x04\x05\x06\x07\x08", "not a CSV or XLSX"),
    ],
)
def test_bad_files_are_explained(content, message):
    with override("en"), pytest.raises(ImportFileError, match=message):
        read_table(content)


def workbook_with(part, change):
    """A valid workbook (HEADER and one person) whose `part` is changed by
    `change(xml text)`: a damaged or hostile file as an attacker would make it."""
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes([HEADER, person()])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == part:
                data = change(data.decode("utf-8")).encode("utf-8")
            target.writestr(item, data)
    return out.getvalue()


#: "Billion laughs": ten entities of ten of the previous one, 10^9 "lol"s.
LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + "]>"
)


def with_laughs(xml, old, new):
    """The DTD before the root element, and `old` replaced by `new` (which
    refers to the last entity)."""
    root = re.search(r"<[^?!]", xml).start()
    return xml[:root] + LAUGHS + xml[root:].replace(old, new, 1)


HOSTILE_WORKBOOKS = {
    # Parsed when the workbook is opened.
    "laughs in the workbook": (
        "xl/workbook.xml",
        lambda xml: with_laughs(xml, 'name="Sheet"', 'name="&lol9;"'),
    ),
    "laughs in the properties": (
        "docProps/core.xml",
        lambda xml: with_laughs(xml, ">openpyxl<", ">&lol9;<"),
    ),
    # Parsed row by row.
    "laughs in the sheet": (
        "xl/worksheets/sheet1.xml",
        lambda xml: with_laughs(xml, ">Etunimi<", ">&lol9;<"),
    ),
    "broken workbook part": ("xl/workbook.xml", lambda xml: xml.replace("</workbook>", "")),
    "broken sheet": ("xl/worksheets/sheet1.xml", lambda xml: xml.replace("</sheetData>", "")),
}


@pytest.mark.parametrize("part, change", HOSTILE_WORKBOOKS.values(), ids=HOSTILE_WORKBOOKS)
def test_a_damaged_or_hostile_workbook_is_a_damaged_file(part, change):
    content = workbook_with(part, change)
    with override("en"), pytest.raises(ImportFileError, match="damaged"):
        read_table(content)


def test_workbooks_are_read_without_xml_entities():
    """openpyxl parses with defusedxml when it is installed: no entity is
    expanded at all, whatever the version of the system's expat."""
    assert openpyxl.DEFUSEDXML
    with pytest.raises(ImportFileError) as refused:
        read_table(workbook_with(*HOSTILE_WORKBOOKS["laughs in the workbook"]))
    causes, error = [], refused.value
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(cause, EntitiesForbidden) for cause in causes)


def test_too_many_rows_are_refused_early(settings):
    settings.IMPORT_MAX_ROWS = 3
    content = csv_bytes([HEADER] + [person(email=f"p{i}@example.invalid") for i in range(4)])
    with override("en"), pytest.raises(ImportFileError, match="more than 3 rows"):
        read_table(content)
    assert len(read_table(content, max_rows=4).rows) == 4


def test_a_million_rows_are_refused_without_reading_them_all(settings):
    content = b"Etunimi\n" + b"a\n" * 1_000_000
    with override("en"), pytest.raises(ImportFileError, match="more than"):
        read_table(content)


def test_too_large_files_are_refused(settings):
    settings.IMPORT_MAX_BYTES = 100
    with override("en"), pytest.raises(ImportFileError, match="larger than"):
        read_table(csv_bytes([HEADER, person(), person(), person()]))


@pytest.mark.django_db
def test_xlsx_formulas_come_as_plain_text_and_numbers_as_typed():
    content = xlsx_bytes(
        [
            [
                "Etunimi",
                "Sukunimi",
                "Sähköposti",
                "Puhelin",
                "Katuosoite",
                "Postinumero",
                "Kaupunki",
            ],
            [
                '=HYPERLINK("http://example.invalid","x")',
                "Virtanen",
                "=1+1",
                401112233,
                "Tie 1",
                100,
                "Helsinki",
            ],
            ["Eino", "Virtanen", "eino@example.invalid", 401112234, "Tie 2", 80100, "Joensuu"],
        ]
    )
    table = read_table(content)
    assert table.file_format == "xlsx"
    assert table.rows[0][1][:4] == [
        '=HYPERLINK("http://example.invalid","x")',
        "Virtanen",
        "=1+1",
        "401112233",
    ]
    with override("en"):
        analysis = analyse(table, guess_mapping(table.headers), ImportOptions())
    formula_row, plain_row = analysis.rows
    assert formula_row.outcome == Outcome.REJECT
    assert any("First name" in reason for reason in formula_row.reasons)
    assert any("Email" in reason for reason in formula_row.reasons)
    # Excel dropped the leading zeros of the phone and of postal code 00100.
    assert plain_row.outcome == Outcome.CREATE
    assert plain_row.data["phone"] == "+358401112234"
    assert formula_row.data["postal_code"] == "00100"


@pytest.mark.parametrize(
    ("exported", "read"),
    [
        ("'+358 40 111 2233", "+358 40 111 2233"),
        # A formula behind blanks was made inert too (exports.is_formula).
        ("' =1+1", " =1+1"),
        ("'\u200b@SUM(A1)", "\u200b@SUM(A1)"),
        ("'\u00a0-2", " -2"),  # the reader makes every run of whitespace one space
        # An apostrophe the exports did not add is the customer's own.
        ("' hello", "' hello"),
        ("'Ahonen", "'Ahonen"),
    ],
)
def test_our_own_inert_cells_come_back_as_they_were(exported, read):
    table = read_table(csv_bytes([HEADER, person(phone=exported)]))
    assert table.rows[0][1][3] == read


# --- Checking rows ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (person(email="aino@"), "Email: Enter a valid email address."),
        (person(phone="12345"), "Phone: Enter a valid phone number"),
        (person(first="R2-D2"), "First name: Use letters"),
        (["Aino", "Äijälä", "", "", "", "", ""], "Give at least one way to reach the customer"),
        (["Aino", "Äijälä", "", "", "Kauppakatu 1", "", "Joensuu"], "Give at least one way"),
        (
            [*person()[:5], "801000", "Joensuu"],
            "Postal code: A Finnish postal code has five digits",
        ),
        (
            ["", "Äijälä", "aino@example.invalid", "", "", "", ""],
            "First name: This field is required.",
        ),
    ],
)
def test_each_rejection_says_why(row, reason):
    (result,) = check([row]).rows
    assert result.outcome == Outcome.REJECT
    assert any(r.startswith(reason) for r in result.reasons), result.reasons


@pytest.mark.django_db
def test_duplicates_within_the_file_are_rejected_with_the_first_row_named():
    analysis = check(
        [
            person(),
            person(first="Toinen", phone="040 999 8877"),  # same email as row 2
            person(first="Kolmas", email="kolmas@example.invalid", phone="+358401112233"),
        ]
    )
    first, same_email, same_phone = analysis.rows
    assert first.outcome == Outcome.CREATE
    assert same_email.reasons == ["The same email address as row 2 of this file."]
    assert same_phone.reasons == ["The same phone number as row 2 of this file."]


@pytest.mark.django_db
def test_customers_already_in_the_register_are_matched_by_email_or_phone():
    by_email = CustomerFactory(email="Aino.Aijala@Example.invalid")
    by_phone = CustomerFactory(phone="+358405556677")
    analysis = check(
        [
            person(),
            person(first="Eino", email="eino@example.invalid", phone="040-555 66 77"),
            person(first="Uusi", email="uusi@example.invalid", phone="040 123 0000"),
        ]
    )
    assert [(row.outcome, row.match_id) for row in analysis.rows] == [
        (Outcome.MATCH, by_email.pk),
        (Outcome.MATCH, by_phone.pk),
        (Outcome.CREATE, None),
    ]


@pytest.mark.django_db
def test_values_are_normalised_as_the_customer_form_does():
    header = ["Nimi", "Sähköposti", "Puhelin", "Maa"]
    analysis = check(
        [
            ["Äijälä, Aino  Maria", "aino@example.invalid", "+358 40 111 2233", "Suomi"],
            ["Erik Svensson", "erik@example.invalid", "+46 70 123 45 67", "Ruotsi"],
            ["John Smith", "john@example.invalid", "", "United Kingdom"],
            ["Nobody Here", "nobody@example.invalid", "", "Atlantis"],
        ],
        header=header,
    )
    aino, erik, john, atlantis = analysis.rows
    assert (aino.data["first_name"], aino.data["last_name"]) == ("Aino Maria", "Äijälä")
    assert aino.data["phone"] == "+358401112233" and aino.data["country"] == "FI"
    assert erik.data["country"] == "SE" and erik.data["phone"] == "+46701234567"
    assert john.data["country"] == "GB"
    assert atlantis.outcome == Outcome.REJECT
    assert atlantis.reasons == ["Country: “Atlantis” is not a country."]


def test_full_names_are_split_at_the_last_space_or_the_comma():
    assert split_full_name("Aino Maria Äijälä") == ("Aino Maria", "Äijälä")
    assert split_full_name("Mäki-Petäjä, Eino") == ("Eino", "Mäki-Petäjä")


@pytest.mark.django_db
def test_consent_columns_need_a_clear_answer_and_a_way_to_reach():
    header = [
        "Etunimi",
        "Sukunimi",
        "Sähköposti",
        "Puhelin",
        "Uutiskirje",
        "SMS-lupa",
        "Markkinointikielto",
    ]
    analysis = check(
        [
            ["Aino", "Äijälä", "a@example.invalid", "040 111 2233", "kyllä", "x", ""],
            ["Eino", "Äijälä", "e@example.invalid", "", "ei", "", "Kyllä"],
            ["Ilmari", "Äijälä", "i@example.invalid", "", "ehkä", "", ""],
            ["Oona", "Äijälä", "", "040 111 2299", "yes", "", ""],
            ["Into", "Äijälä", "in@example.invalid", "", "", "1", ""],
        ],
        header=header,
    )
    aino, eino, maybe, no_email, no_phone = analysis.rows
    assert aino.consents == ["email_consent", "sms_consent"]
    assert eino.consents == ["objection"]
    assert maybe.reasons == ["Email marketing consent: “ehkä” is not yes or no."]
    assert no_email.reasons == ["Email marketing consent, but no email address."]
    assert no_phone.reasons == ["SMS marketing consent, but no phone number."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        {"first_name": "Aino", "last_name": "Äijälä", "email": "aino@example.invalid"},
        {"first_name": " Aino  ", "last_name": "Mäki-Petäjä", "phone": "040 111 2233"},
        {"first_name": "Aino", "last_name": "Äijälä", "email": "aino@"},
        {"first_name": "R2", "last_name": "", "phone": "123"},
        {"first_name": "Aino", "last_name": "Äijälä"},
        {
            "first_name": "Aino",
            "last_name": "Äijälä",
            "street_address": "Tie 1",
            "postal_code": "8010",
            "city": "Joensuu",
        },
        {
            "first_name": "Aino",
            "last_name": "Äijälä",
            "street_address": "Tie 1",
            "postal_code": "80100",
            "city": "Joensuu",
        },
        {"first_name": "A" * 101, "last_name": "Äijälä", "email": "aino@example.invalid"},
        # Longer than the model allows only once the form has upper-cased it.
        {"first_name": "Aino", "last_name": "Äijälä", "email": "a@example.invalid"}
        | {"postal_code": "ß" * 15, "country": "DE"},
        {"first_name": "Aino", "last_name": "Äijälä", "street_address": "Tie 1"}
        | {"postal_code": "ß" * 10, "city": "Berlin", "country": "DE"},
        {"first_name": "Aino", "last_name": "Äijälä", "street_address": "Tie 1", "city": "X"},
        {"first_name": "Aino", "last_name": "Äijälä", "phone": "+358 40 111 22"},
    ],
)
def test_one_form_rebound_per_row_validates_like_a_new_form(data):
    full = {name: data.get(name, "") for name in CUSTOMER_FIELDS[:7]}
    country = data.get("country", "FI")
    form = CustomerFieldsForm(data={**full, "country": country, "source": "web_registration"})
    validator = CustomerRowValidator()
    validator.validate(
        {"first_name": "Other", "last_name": "Row", "email": "x@"},
        country="FI",
        source="web_registration",
    )
    cleaned, errors = validator.validate(full, country=country, source="web_registration")
    if form.is_valid():
        assert errors is None
        assert {k: str(v) for k, v in cleaned.items()} == {
            k: str(v) for k, v in form.cleaned_data.items()
        }
    else:
        assert cleaned is None
        expected = {
            str(form.fields[name].label) if name in form.fields else "": list(messages)
            for name, messages in form.errors.items()
        }
        assert errors == expected


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("email", ["", "a@example.invalid"])
@pytest.mark.parametrize("phone", ["", "+358401112233"])
@pytest.mark.parametrize("street", ["", "Tie 1"])
@pytest.mark.parametrize("postal_code", ["", "80100"])
@pytest.mark.parametrize("city", ["", "Joensuu"])
def test_the_contact_rule_in_python_is_the_database_constraint(
    email, phone, street, postal_code, city
):
    customer = Customer(
        first_name="Aino",
        last_name="Äijälä",
        email=email,
        phone=phone,
        street_address=street,
        postal_code=postal_code,
        city=city,
        source="web_registration",
    )
    try:
        with transaction.atomic():
            customer.save()
        database_accepts = True
    except IntegrityError:
        database_accepts = False
    assert customer.has_contact() == database_accepts


# --- Writing and undo ------------------------------------------------------------------


def upload(rows, by, *, header=HEADER, name="asiakkaat.csv", **options):
    customer_import = import_upload(file_name=name, content=csv_bytes([header, *rows]), by=by)
    if options:
        customer_import.options = ImportOptions(**options).as_json()
        customer_import.save()
    return customer_import


@pytest.fixture
def email_wording(db):
    return ConsentText.objects.filter(channel="email").order_by(
        "-version"
    ).first() or ConsentText.objects.create(
        channel="email", version=1, wording="Saat meiltä uutiskirjeen sähköpostiin."
    )


@pytest.mark.django_db
def test_an_import_that_dies_half_way_leaves_the_register_as_it_was(staff_member, monkeypatch):
    """A worker killed (or failing) after the first batch was written: one
    transaction, so nothing of the import is left and it can be tried again."""

    customer_import = upload(
        [
            person(first=name, email=f"{name.lower()}@example.invalid", phone="")
            for name in ("Aino", "Eino", "Ilmari")
        ],
        staff_member,
    )
    written = writing.row_search_text
    calls = []

    def dies_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return written(*args, **kwargs)

    monkeypatch.setattr(writing, "row_search_text", dies_on_the_second_batch)
    with pytest.raises(SystemExit):
        import_apply(customer_import=customer_import, by=staff_member, batch_size=1)
    assert len(calls) == 2  # the first batch had been written
    assert gc.isenabled()  # paused for the import only (cycle_collector_paused)
    assert not Customer.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMERS_IMPORTED).exists()
    customer_import.refresh_from_db()
    assert customer_import.status == CustomerImport.Status.PENDING
    assert customer_import.content is not None
    monkeypatch.setattr(writing, "row_search_text", written)
    done = import_apply(customer_import=customer_import, by=staff_member)
    assert done.created_count == Customer.objects.count() == 3


@pytest.mark.django_db
def test_an_import_adds_the_new_customers_in_one_go_and_audits_it(staff_member, email_wording):
    existing = CustomerFactory(email="olemassa@example.invalid")
    header = [*HEADER, "Uutiskirje"]
    customer_import = upload(
        [
            [*person(), "kyllä"],
            [*person(first="Eino", email="olemassa@example.invalid", phone=""), "kyllä"],
            [*person(first="Ilmari", email="ilmari@", phone=""), ""],
        ],
        staff_member,
        header=header,
        source="web_registration",
        consent_date=datetime.date(2026, 3, 1),
        consent_method="web_form",
        email_text=email_wording,
    )
    done = import_apply(customer_import=customer_import, by=staff_member)

    assert (done.status, done.created_count, done.matched_count, done.rejected_count) == (
        "applied",
        1,
        1,
        1,
    )
    assert done.content is None  # the file is not kept
    assert [item["row"] for item in done.rejected_rows] == [4]
    aino = Customer.objects.get(email="aino.aijala@example.invalid")
    assert aino.imported_in == done and aino.source == "web_registration"
    assert aino.search_text and "äijälä" in aino.search_text
    assert Customer.objects.search("040 111 2233").get() == aino
    consent = aino.consents.get()
    assert (consent.channel, consent.event, consent.text, consent.recorded_by) == (
        "email",
        "given",
        email_wording,
        staff_member,
    )
    assert timezone.localtime(consent.occurred_at).date() == datetime.date(2026, 3, 1)
    assert Customer.objects.contactable_by("email").filter(pk=aino.pk).exists()
    # A customer already in the register gets no consent from a file.
    assert not existing.consents.exists()

    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMERS_IMPORTED)
    assert event.actor == staff_member and event.target_id == str(done.pk)
    assert event.detail == {
        "file": "asiakkaat.csv",
        "rows": 3,
        "added": 1,
        "matched": 1,
        "rejected": 1,
        "consents": 1,
        "suppressed": 0,
        "recorded": 0,
    }
    created = AuditEvent.objects.for_customer(aino).get(action=AuditEvent.Action.CUSTOMER_CREATED)
    assert created.detail["import"] == done.pk


@pytest.mark.django_db
def test_an_import_is_applied_once(staff_member):
    customer_import = upload([person()], staff_member)
    import_apply(customer_import=customer_import, by=staff_member)
    with pytest.raises(ImportStateError):
        import_apply(customer_import=customer_import, by=staff_member)
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_the_database_decides_again_at_confirmation(staff_member):
    customer_import = upload([person()], staff_member)
    CustomerFactory(email="aino.aijala@example.invalid")  # added meanwhile by someone else
    done = import_apply(customer_import=customer_import, by=staff_member)
    assert (done.created_count, done.matched_count) == (0, 1)


@pytest.mark.django_db
def test_consent_columns_need_the_wording_and_date(staff_member):
    customer_import = upload([[*person(), "kyllä"]], staff_member, header=[*HEADER, "Uutiskirje"])
    with pytest.raises(ImportStateError):
        import_apply(customer_import=customer_import, by=staff_member)
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_undo_removes_what_nobody_touched_and_says_why_the_rest_stays(
    staff_member, register_manager, email_wording
):
    rows = [
        person(first=name, email=f"tuotu{index}@example.invalid", phone="")
        for index, name in enumerate(
            ("Koskematon", "Muutettu", "Suostunut", "Kurssilla", "Pyytänyt", "Poistettu")
        )
    ]
    header = [*HEADER, "Uutiskirje"]
    customer_import = upload(
        [[*row, "kyllä"] for row in rows],
        staff_member,
        header=header,
        consent_date=datetime.date(2026, 3, 1),
        email_text=email_wording,
    )
    done = import_apply(customer_import=customer_import, by=staff_member)
    by_name = {c.first_name: c for c in Customer.objects.filter(imported_in=done)}
    customer_update(customer=by_name["Muutettu"], data={"city": "Kuopio"}, by=staff_member)
    consent_record(
        customer=by_name["Suostunut"],
        channel="direct_marketing",
        event="objection",
        method="phone",
        by=staff_member,
    )
    EnrollmentFactory(customer=by_name["Kurssilla"], course=CourseFactory())
    DataSubjectRequestFactory(customer=by_name["Pyytänyt"])
    customer_erase(customer=by_name["Poistettu"], by=register_manager)

    report = import_undo(customer_import=done, by=register_manager)

    assert report["removed"] == 1 and report["gone"] == 1
    assert report["kept"] == {
        str(by_name["Muutettu"].pk): "changed",
        str(by_name["Suostunut"].pk): "consent",
        str(by_name["Kurssilla"].pk): "related",
        str(by_name["Pyytänyt"].pk): "related",
    }
    assert not Customer.objects.filter(pk=by_name["Koskematon"].pk).exists()
    assert not Consent.objects.filter(customer_id=by_name["Koskematon"].pk).exists()
    assert Customer.objects.filter(imported_in=done).count() == 4
    done.refresh_from_db()
    assert done.status == "undone" and done.undone_by == register_manager
    event = AuditEvent.objects.get(action=AuditEvent.Action.IMPORT_UNDONE)
    assert event.detail["removed"] == 1 and event.detail["file"] == "asiakkaat.csv"
    with pytest.raises(ImportStateError):
        import_undo(customer_import=done, by=register_manager)


@pytest.mark.django_db
def test_undo_ends_with_its_period(staff_member, settings):
    done = import_apply(customer_import=upload([person()], staff_member), by=staff_member)
    CustomerImport.objects.filter(pk=done.pk).update(
        applied_at=timezone.now() - datetime.timedelta(days=settings.IMPORT_UNDO_DAYS, seconds=1)
    )
    done.refresh_from_db()
    assert not done.can_undo
    with pytest.raises(ImportStateError):
        import_undo(customer_import=done, by=staff_member)
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_kept_files_are_discarded_in_time_and_by_an_erasure(
    staff_member, register_manager, settings
):
    waiting = upload([person()], staff_member)
    applied = import_apply(
        customer_import=upload([person(first="E", email="e@", phone="")], staff_member),
        by=staff_member,
    )
    assert applied.rejected_rows and waiting.content
    assert imports_expire() == (0, 0)
    later = timezone.now() + datetime.timedelta(days=settings.IMPORT_UNDO_DAYS + 1)
    assert imports_expire(later) == (1, 1)
    waiting.refresh_from_db(), applied.refresh_from_db()
    assert waiting.status == "cancelled" and waiting.content is None
    assert applied.rejected_rows == []

    other = import_apply(
        customer_import=upload([person(first="E", email="e@", phone="")], staff_member),
        by=staff_member,
    )
    pending = upload([person()], staff_member)
    customer_erase(customer=CustomerFactory(), by=register_manager)
    other.refresh_from_db(), pending.refresh_from_db()
    assert other.rejected_rows == [] and pending.content is None


# --- The command line -------------------------------------------------------------------


@pytest.mark.django_db
def test_command_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "asiakkaat.csv"
    path.write_bytes(csv_bytes([HEADER, person(), person(first="X", email="x@", phone="")]))
    out = io.StringIO()
    call_command(
        "import_customers",
        str(path),
        "--dry-run",
        "--rejects",
        str(tmp_path / "r.csv"),
        stdout=out,
    )
    assert "Added: 1, already in the register: 0, rejected: 1." in out.getvalue()
    assert "Dry run" in out.getvalue()
    assert not Customer.objects.exists() and not CustomerImport.objects.exists()
    rejects = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert rejects.splitlines()[1].startswith("X;Äijälä;x@;")


@pytest.mark.django_db
def test_command_imports_as_a_user_with_the_permission(tmp_path, staff_member, no_role_user):
    path = tmp_path / "customers.csv"
    path.write_bytes(
        csv_bytes(
            [["Name", "Mobile", "Info"], ["Aino Äijälä", "040 111 2233", "x"]], delimiter=","
        )
    )
    with pytest.raises(CommandError, match="--user"):
        call_command("import_customers", str(path))
    with pytest.raises(CommandError, match="import permission"):
        call_command("import_customers", str(path), "--user", no_role_user.username)
    with pytest.raises(CommandError, match="no such column"):
        call_command("import_customers", str(path), "--user", "toimisto", "--map", "Nope=email")
    out = io.StringIO()
    call_command(
        "import_customers",
        str(path),
        "--user",
        "toimisto",
        "--source",
        "enrolment_or_purchase",
        "--map",
        "Info=",
        stdout=out,
    )
    customer = Customer.objects.get()
    assert (customer.first_name, customer.last_name, str(customer.phone)) == (
        "Aino",
        "Äijälä",
        "+358401112233",
    )
    assert customer.source == "enrolment_or_purchase"
    assert customer.imported_in.created_by == staff_member
    assert AuditEvent.objects.filter(action="customers_imported", actor=staff_member).exists()


@pytest.mark.django_db
def test_command_explains_a_bad_file(tmp_path):
    path = tmp_path / "tyhja.csv"
    path.write_bytes(b"")
    with override("en"), pytest.raises(CommandError, match="empty"):
        call_command("import_customers", str(path), "--dry-run")


@pytest.mark.django_db
def test_the_access_report_names_the_file_a_customer_came_from(staff_member):
    done = import_apply(customer_import=upload([person()], staff_member), by=staff_member)
    customer = Customer.objects.get()
    imported_from = access_report(customer)["customer"]["imported_from"]
    assert imported_from == f"asiakkaat.csv ({done.created_at:%Y-%m-%d})"
    assert access_report(CustomerFactory())["customer"]["imported_from"] == ""


@pytest.mark.django_db
def test_a_formula_in_a_free_text_cell_is_stored_as_text_and_exported_inert(staff_member):
    content = xlsx_bytes(
        [
            HEADER,
            ["Aino", "Äijälä", "aino@example.invalid", "", '=HYPERLINK("http://x","y")', "", ""],
        ]
    )
    customer_import = import_upload(file_name="paha.xlsx", content=content, by=staff_member)
    import_apply(customer_import=customer_import, by=staff_member)
    customer = Customer.objects.get()
    assert customer.street_address == '=HYPERLINK("http://x","y")'
    assert neutralise(customer.street_address).startswith("'=")


def test_a_workbook_that_unpacks_too_large_is_refused_before_unpacking(monkeypatch):
    content = xlsx_bytes([HEADER, person()])
    monkeypatch.setattr(reading, "MAX_UNPACKED_BYTES", 1000)
    monkeypatch.setattr(
        "openpyxl.reader.excel.ExcelReader.read",
        lambda self: pytest.fail("the workbook was opened"),
    )
    with override("en"), pytest.raises(ImportFileError, match="too large when unpacked"):
        read_table(content)


def test_excels_separator_hint_line_is_followed_and_not_a_row():
    table = read_table(b"sep=,\r\n" + csv_bytes([HEADER, person()], delimiter=","))
    assert table.delimiter == "," and table.headers == HEADER
    assert table.rows == [(2, person())]


def test_the_first_rows_can_be_read_alone_for_the_examples(settings):
    settings.IMPORT_MAX_ROWS = 2
    content = csv_bytes([HEADER] + [person(first=f"Nimi{i}") for i in "abcde"])
    assert [cells[0] for _n, cells in read_table(content, first=3).rows] == [
        "Nimia",
        "Nimib",
        "Nimic",
    ]
    with pytest.raises(ImportFileError):
        read_table(content)


@pytest.mark.django_db
def test_the_daily_command_discards_what_is_due(staff_member, settings):
    waiting = upload([person()], staff_member)
    CustomerImport.objects.filter(pk=waiting.pk).update(
        created_at=timezone.now() - datetime.timedelta(hours=settings.IMPORT_PENDING_HOURS + 1)
    )
    out = io.StringIO()
    call_command("expire_imports", stdout=out)
    waiting.refresh_from_db()
    assert waiting.status == "cancelled" and waiting.content is None
    assert out.getvalue().startswith("Discarded 1 uploaded files")


def test_the_daily_command_says_that_only_cron_runs_it():
    """Opening the import list discards nothing (test_import_views.py::
    test_a_file_waiting_too_long_cannot_be_confirmed) and no task runs the
    command: its help must not promise otherwise."""
    help_text = load_command_class("registry", "expire_imports").help
    assert "from cron: nothing else runs it" in help_text
    assert "import list" not in help_text


@pytest.mark.django_db
def test_a_file_name_is_kept_without_control_characters(staff_member):
    """PostgreSQL refuses a NUL; a newline would break the download's header."""
    customer_import = import_upload(
        file_name="Asiakkaat\x00\n2027.csv" + "x" * 300,
        content=csv_bytes([HEADER, person()]),
        by=staff_member,
    )
    assert customer_import.file_name == "Asiakkaat 2027.csv" + "x" * 237
