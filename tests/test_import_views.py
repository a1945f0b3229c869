"""The import pages: upload, mapping and preview, confirm, rejected rows, undo."""

import csv
import datetime
import io
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry.audit.models import AuditEvent
from registry.imports import services
from registry.imports.models import CustomerImport
from registry.models import Customer

from .factories import CustomerFactory, CustomerImportFactory
from .test_imports import HEADER, HOSTILE_WORKBOOKS, csv_bytes, person, workbook_with, xlsx_bytes
from .test_register_export import content_of, export

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_tasks")]


def post_file(client, content, name="asiakkaat.csv"):
    return client.post(
        reverse("registry:import-upload"), {"file": SimpleUploadedFile(name, content)}
    )


def mapping_data(customer_import, **changes):
    data = {f"column_{i}": target for i, target in enumerate(customer_import.mapping)}
    data.update(source="web_registration", consent_method="web_form")
    data.update(changes)
    return data


@pytest.fixture
def uploaded(client, staff_member):
    client.force_login(staff_member)
    rows = [HEADER, person(), person(first="Virhe", email="virhe@", phone=""), person()]
    response = post_file(client, csv_bytes(rows))
    return CustomerImport.objects.get(pk=response.url.rstrip("/").rsplit("/", 1)[1])


def test_upload_reads_the_file_and_shows_the_preview(client, uploaded, staff_member):
    assert uploaded.status == "pending" and uploaded.created_by == staff_member
    assert uploaded.mapping[:3] == ["first_name", "last_name", "email"]
    assert AuditEvent.objects.filter(action="import_uploaded", actor=staff_member).exists()

    response = client.get(uploaded.get_absolute_url())
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    preview = response.context["preview"]
    assert preview["counts"] == {"create": 1, "match": 0, "reject": 2}
    assert "Äijälä" in response.content.decode()
    assert not Customer.objects.exists()  # nothing is written before confirming

    rejected = client.get(uploaded.get_absolute_url() + "?show=reject")
    assert [row["number"] for row in rejected.context["page_obj"]] == [3, 4]


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"", "tyhja.csv"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "kuva.png"),
        (b'Etunimi;Sukunimi\n"Aino;Virtanen\n', "lainaus.csv"),
        (b"PK\x03\x04rikki", "rikki.xlsx"),
    ],
)
def test_a_bad_file_is_explained_next_to_the_field(client, staff_member, content, name):
    client.force_login(staff_member)
    response = post_file(client, content, name)
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert 'aria-invalid="true"' in response.content.decode()
    assert not CustomerImport.objects.exists()


@pytest.mark.parametrize("part, change", HOSTILE_WORKBOOKS.values(), ids=HOSTILE_WORKBOOKS)
def test_a_damaged_or_hostile_workbook_is_a_damaged_file_beside_the_field(
    client, staff_member, settings, part, change
):
    client.force_login(staff_member)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = post_file(client, workbook_with(part, change), "asiakkaat.xlsx")
    assert response.status_code == 200
    assert "damaged" in " ".join(response.context["form"].errors["file"])
    assert 'aria-invalid="true"' in response.content.decode()
    assert not CustomerImport.objects.exists()
    assert not AuditEvent.objects.filter(action="import_uploaded").exists()


def test_a_too_large_file_is_refused_before_reading(client, staff_member, settings):
    settings.IMPORT_MAX_BYTES = 50
    client.force_login(staff_member)
    response = post_file(client, csv_bytes([HEADER, person(), person()]))
    assert response.context["form"].errors["file"]
    assert not CustomerImport.objects.exists()


def test_an_incomplete_mapping_is_explained_and_nothing_is_previewed(client, uploaded):
    data = mapping_data(uploaded, column_0="", column_1="", column_2="email", column_3="email")
    response = client.post(uploaded.get_absolute_url(), {**data, "preview": ""})
    assert response.status_code == 200
    form = response.context["form"]
    assert len(form.non_field_errors()) == 2  # email twice; no name columns
    assert response.context["preview"] is None
    assert 'role="alert"' in response.content.decode()


def test_consent_columns_ask_for_wording_and_date(client, uploaded):
    data = mapping_data(uploaded, column_6="email_consent")
    response = client.post(uploaded.get_absolute_url(), {**data, "preview": ""})
    errors = response.context["form"].errors
    assert set(errors) == {"email_text", "consent_date"}


def test_confirm_imports_only_what_was_previewed(client, uploaded, staff_member):
    changed = mapping_data(uploaded, column_6="")  # city no longer imported
    response = client.post(uploaded.get_absolute_url(), {**changed, "confirm": ""})
    assert response.status_code == 302
    assert not Customer.objects.exists()  # changed since the preview: shown again first
    uploaded.refresh_from_db()
    assert uploaded.status == "pending" and uploaded.mapping[6] == ""

    response = client.post(uploaded.get_absolute_url(), {**changed, "confirm": ""})
    assert response.status_code == 302
    uploaded.refresh_from_db()
    assert uploaded.status == "applied" and uploaded.created_count == 1
    customer = Customer.objects.get()
    assert customer.city == "" and customer.source == "web_registration"

    page = client.get(uploaded.get_absolute_url())
    assert page.context["rejected_rows"][0]["row"] == 3
    listed = client.get(reverse("registry:customer-list") + f"?imported={uploaded.pk}")
    assert [row.pk for row in listed.context["customers"]] == [customer.pk]
    assert uploaded.get_absolute_url() in listed.content.decode()  # "back to the import"
    for hostile in ("abc", "-1", "0", "9" * 30):
        ignored = client.get(reverse("registry:customer-list"), {"imported": hostile})
        assert ignored.status_code == 200 and ignored.context["imported"] is None
    detail = client.get(customer.get_absolute_url())
    assert "asiakkaat.csv" in detail.content.decode()


def test_a_file_waiting_too_long_cannot_be_confirmed(client, uploaded, settings):
    """Opening the list writes nothing (manage.py expire_imports discards the
    file); until then a file older than IMPORT_PENDING_HOURS is refused."""
    old = datetime.timedelta(hours=settings.IMPORT_PENDING_HOURS + 1)
    CustomerImport.objects.filter(pk=uploaded.pk).update(created_at=uploaded.created_at - old)
    listing = client.get(reverse("registry:import-list"), HTTP_ACCEPT_LANGUAGE="en")
    assert "Expired: upload it again" in listing.content.decode()
    uploaded.refresh_from_db()
    assert uploaded.status == "pending" and uploaded.content is not None
    response = client.post(uploaded.get_absolute_url(), {**mapping_data(uploaded), "confirm": ""})
    assert response.status_code == 302
    uploaded.refresh_from_db()
    assert uploaded.status == "pending" and not Customer.objects.exists()
    page = client.get(uploaded.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en")
    assert "waited too long" in page.content.decode()


def test_cancel_drops_the_file(client, uploaded):
    response = client.post(uploaded.get_absolute_url(), {"cancel": ""})
    assert response.url == reverse("registry:import-list")
    uploaded.refresh_from_db()
    assert uploaded.status == "cancelled" and uploaded.content is None
    assert client.get(uploaded.get_absolute_url()).status_code == 200


def test_rejected_rows_download_to_be_fixed_and_imported_again(client, uploaded, staff_member):
    client.post(uploaded.get_absolute_url(), {**mapping_data(uploaded), "confirm": ""})
    response = client.get(reverse("registry:import-rejected", args=[uploaded.pk]))
    assert response["Content-Disposition"] == 'attachment; filename="asiakkaat-hylatyt.csv"'
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:7] == HEADER and len(rows[0]) == 8
    assert rows[1][:3] == ["Virhe", "Äijälä", "virhe@"] and rows[1][7]
    assert rows[2][0] == "Aino" and "2" in rows[2][7]  # the same as row 2
    event = AuditEvent.objects.get(action="import_rejects_downloaded")
    assert event.actor == staff_member and event.detail["rows"] == 2

    fixed = [rows[0][:7], ["Virhe", "Äijälä", "virhe@example.invalid", "", "", "", ""]]
    again = post_file(client, csv_bytes(fixed), "korjatut.csv")
    second = CustomerImport.objects.get(pk=again.url.rstrip("/").rsplit("/", 1)[1])
    assert client.get(second.get_absolute_url()).context["preview"]["counts"]["create"] == 1


def test_no_rejected_rows_no_download(client, staff_member):
    client.force_login(staff_member)
    response = post_file(client, csv_bytes([HEADER, person()]))
    customer_import = CustomerImport.objects.get()
    client.post(response.url, {**mapping_data(customer_import), "confirm": ""})
    assert (
        client.get(reverse("registry:import-rejected", args=[customer_import.pk])).status_code
        == 404
    )


def test_undo_from_the_page(client, staff_member):
    client.force_login(staff_member)
    content = xlsx_bytes(
        [HEADER, person(), person(first="Eino", email="e@example.invalid", phone="")]
    )
    response = post_file(client, content, "asiakkaat.xlsx")
    customer_import = CustomerImport.objects.get()
    assert customer_import.file_format == "xlsx"
    client.post(response.url, {**mapping_data(customer_import), "confirm": ""})
    assert Customer.objects.count() == 2

    undo_url = reverse("registry:import-undo", args=[customer_import.pk])
    assert client.get(undo_url).status_code == 200
    response = client.post(undo_url)
    assert response.status_code == 302
    assert not Customer.objects.exists()
    customer_import.refresh_from_db()
    assert customer_import.status == "undone"
    again = client.post(undo_url, follow=True)
    assert again.status_code == 200 and not Customer.objects.exists()


def test_the_list_shows_imports_newest_first(client, staff_member):
    client.force_login(staff_member)
    post_file(client, csv_bytes([HEADER, person()]), "eka.csv")
    post_file(client, csv_bytes([HEADER, person()]), "toka.csv")
    response = client.get(reverse("registry:import-list"))
    assert [item.file_name for item in response.context["imports"]] == ["toka.csv", "eka.csv"]


def test_rows_are_checked_once_per_mapping_and_paging_reuses_them(client, uploaded, monkeypatch):
    calls = []
    original = services.decided_rows
    monkeypatch.setattr(
        services, "decided_rows", lambda *args, **kw: calls.append(1) or original(*args, **kw)
    )
    # The upload's task checked the rows; the pages only show what it kept.
    assert uploaded.preview["counts"] == {"create": 1, "match": 0, "reject": 2}
    client.get(uploaded.get_absolute_url())
    client.get(uploaded.get_absolute_url() + "?show=reject")
    assert len(calls) == 0
    # "Update the preview" checks again, against customers added meanwhile.
    client.post(uploaded.get_absolute_url(), {**mapping_data(uploaded), "preview": ""})
    client.get(uploaded.get_absolute_url())
    assert len(calls) == 1
    client.post(uploaded.get_absolute_url(), {**mapping_data(uploaded), "confirm": ""})
    uploaded.refresh_from_db()
    assert uploaded.status == "applied"
    assert uploaded.preview == {} and uploaded.content is None


def test_the_audit_trail_shows_what_an_import_did(client, uploaded, register_manager):
    client.post(uploaded.get_absolute_url(), {**mapping_data(uploaded), "confirm": ""})
    client.force_login(register_manager)
    page = client.get(reverse("registry:audit-trail"), {"action": "customers_imported"})
    text = page.content.decode()
    assert reverse("registry:import-detail", args=[uploaded.pk]) in text
    assert "asiakkaat.csv · 3 riviä: 1 lisätty, 0 jo rekisterissä, 2 hylätty" in text


@pytest.mark.usefixtures("export_dir")
def test_a_register_export_imports_again(client, register_manager):
    CustomerFactory(phone="+46701234567", street_address="=Tie 1")
    CustomerFactory(phone="", email="ilman.puhelinta@example.invalid")
    client.force_login(register_manager)
    content = content_of(export(client, {"file_format": "csv", "purpose": "siirto"}))
    response = post_file(client, content, "asiakasrekisteri.csv")
    customer_import = CustomerImport.objects.get()
    assert customer_import.mapping[:9] == [
        "first_name",
        "last_name",
        "email",
        "phone",
        "street_address",
        "postal_code",
        "city",
        "country",
        "",
    ]
    page = client.get(response.url).context
    # Every row is recognised as the customer it came from, the inert cells
    # read back as they were.
    assert page["preview"]["counts"] == {"create": 0, "match": 2, "reject": 0}
    assert {row["phone"] for row in page["page_obj"]} == {"+46 70 123 45 67", ""}


def test_the_dashboard_lists_uploads_waiting_for_confirmation(client, uploaded, settings):
    page = client.get(reverse("home")).content.decode()
    assert 'id="waiting-imports"' in page and uploaded.get_absolute_url() in page
    CustomerImport.objects.filter(pk=uploaded.pk).update(
        created_at=uploaded.created_at
        - datetime.timedelta(hours=settings.IMPORT_PENDING_HOURS + 1)
    )
    assert 'id="waiting-imports"' not in client.get(reverse("home")).content.decode()


@pytest.mark.parametrize(
    ("file_name", "disposition"),
    [
        ('lista "A".csv', 'attachment; filename="lista \\"A\\"-hylatyt.csv"'),
        ("lista\n2.csv", 'attachment; filename="lista 2-hylatyt.csv"'),
        ("Äijälä.csv", "attachment; filename*=utf-8''%C3%84ij%C3%A4l%C3%A4-hylatyt.csv"),
    ],
)
def test_the_rejected_rows_keep_any_file_name(client, staff_member, file_name, disposition):
    """A file name is the user's text: quoted in the download's header, and a
    control character in it (a name given on the command line) is no failure."""
    customer_import = CustomerImportFactory(file_name=file_name)
    client.force_login(staff_member)
    response = client.get(reverse("registry:import-rejected", args=[customer_import.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == disposition


def previewed_file(client, rows):
    """A waiting import of `rows` customers, checked for the preview: every
    seventh row rejected (no name), every fifth of the others already in the
    register (a customer with its address). Returns the import and the
    numbers of each outcome's rows, in the order of the file."""
    numbers = {"create": [], "match": [], "reject": []}
    lines = [HEADER]
    for index in range(rows):
        number = index + 2  # the header is row 1
        email = f"rivi.{index}@example.invalid"
        first = "Aino"
        if index % 7 == 0:
            first, outcome = "", "reject"
        elif index % 5 == 0:
            CustomerFactory(email=email, phone="")
            outcome = "match"
        else:
            outcome = "create"
        numbers[outcome].append(number)
        lines.append(person(first=first, email=email, phone=""))
    response = post_file(client, csv_bytes(lines))
    return CustomerImport.objects.get(pk=response.url.rstrip("/").rsplit("/", 1)[1]), numbers


def test_the_preview_pages_through_the_rows_of_each_outcome(client, staff_member):
    client.force_login(staff_member)
    customer_import, numbers = previewed_file(client, 450)
    numbers[""] = sorted(n for outcome in ("create", "match", "reject") for n in numbers[outcome])
    for show, expected in numbers.items():
        url = customer_import.get_absolute_url() + (f"?show={show}&" if show else "?")
        response = client.get(url)
        first = response.context
        assert first["page_obj"].paginator.count == len(expected)
        assert "(450)</a>" in response.content.decode()  # all rows
        assert [count for _value, _label, count in first["tabs"]] == [
            len(numbers[outcome]) for outcome in ("create", "match", "reject")
        ]
        pages = first["page_obj"].paginator.num_pages
        assert pages == -(-len(expected) // 100)
        shown = []
        for page in range(1, pages + 2):  # one past the last shows the last
            context = client.get(f"{url}page={page}").context
            rows = list(context["page_obj"])
            assert all(row["outcome"] == show for row in rows) if show else rows
            if page <= pages:
                shown += [row["number"] for row in rows]
        assert shown == expected, show
    # A row already in the register links to its customer.
    matched = client.get(customer_import.get_absolute_url() + "?show=match").context
    row = matched["page_obj"][0]
    assert Customer.objects.get(pk=row["match_id"]).email == row["email"]


def test_a_page_of_the_preview_does_not_read_the_whole_file(client, staff_member):
    """A view of the preview reads the rows of its page, not every row of the
    file: its memory does not grow with the file (decoding every row took
    125 MB for 50,000 rows, docs/benchmarks.md, "A page of the preview")."""
    client.force_login(staff_member)

    def peak_of_a_page(rows):
        customer_import, _numbers = previewed_file(client, rows)
        url = customer_import.get_absolute_url() + "?page=2"
        client.get(url)  # templates and translations loaded once
        tracemalloc.start()
        try:
            started = tracemalloc.get_traced_memory()[0]
            assert client.get(url).status_code == 200
            return tracemalloc.get_traced_memory()[1] - started
        finally:
            tracemalloc.stop()

    small, large = peak_of_a_page(200), peak_of_a_page(2200)
    # Measured 7-27 KB more (SQLite, PostgreSQL); every row decoded, 3.4 MB.
    assert large - small < 400_000, (small, large)


def test_rejected_rows_naming_a_customer_are_a_read_of_that_customer(client, staff_member):
    """A rejected row may hold the address of a customer in the register:
    rejected for another of its cells, or as a copy of an earlier row of the
    file (which matched the customer). The preview's page of such rows, the
    list of them on the import's page and their download show it: each is
    a read of that customer, found by "who saw my data"."""
    by_email = CustomerFactory(email="tunnettu@example.invalid", phone="")
    by_phone = CustomerFactory(email="", phone="+358401112299")
    other = CustomerFactory()
    client.force_login(staff_member)
    rows = [
        HEADER,
        person(first="Tunnettu", email=by_email.email, phone=""),
        # The same address again (in capitals): rejected as a copy of row 2.
        person(first="Kopio", email=by_email.email.upper(), phone=""),
        # Without a first name, with the other customer's number.
        person(first="", email="uusi@example.invalid", phone="040 111 2299"),
    ]
    response = post_file(client, csv_bytes(rows))
    customer_import = CustomerImport.objects.get()

    def reads(customer, via):
        return [
            event
            for event in AuditEvent.objects.for_customer(customer).filter(actor=staff_member)
            if event.action == via or event.detail.get("via") == via
        ]

    page = client.get(response.url + "?show=reject").context["page_obj"]
    assert [row["number"] for row in page] == [3, 4]
    assert len(reads(by_email, "import_preview")) == 1
    assert len(reads(by_phone, "import_preview")) == 1

    client.post(response.url, {**mapping_data(customer_import), "confirm": ""})
    customer_import.refresh_from_db()
    assert customer_import.rejected_count == 2 and customer_import.matched_count == 1
    assert client.get(response.url).status_code == 200
    assert len(reads(by_email, "import_rejected")) == 1
    assert len(reads(by_phone, "import_rejected")) == 1

    download = client.get(reverse("registry:import-rejected", args=[customer_import.pk]))
    assert b"".join(download.streaming_content)
    event = AuditEvent.objects.get(action="import_rejects_downloaded")
    assert event.detail["customers"] == 2
    assert reads(by_email, "import_rejects_downloaded") == [event]
    assert reads(by_phone, "import_rejects_downloaded") == [event]
    assert AuditEvent.objects.for_customer(other).count() == 0
