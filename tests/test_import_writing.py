"""On PostgreSQL the import writes its rows with COPY (issue 23): every column
must hold what bulk_create, the way SQLite still takes, writes for the same
rows, whatever the file held."""

import datetime

import pytest
from django.db import connection, transaction
from django.utils import timezone

from registry.imports.analysis import ImportOptions, Outcome, analyse, guess_mapping
from registry.imports.reading import read_table
from registry.imports.services import import_upload
from registry.imports.writing import AddedRowsWriter
from registry.models import ConsentText

from .test_imports import HEADER, csv_bytes

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="COPY is PostgreSQL's; SQLite takes bulk_create"
)

CONSENTS = ["Uutiskirje", "SMS-markkinointi", "Suoramarkkinointikielto"]


def row(first, last, email, street="", postal_code="", city="", *, phone="", consents="  "):
    """A row of the file; `consents` the email, SMS and objection columns ("k" or " ")."""
    answers = ["kyllä" if mark == "k" else "" for mark in consents.ljust(3)]
    return [first, last, email, phone, street, postal_code, city, *answers]


HOSTILE = [
    # Quotes, commas, a backslash, a tab; a comma in the city.
    row(
        "Aino",
        "O'Brien-Äijälä",
        "o'brien+x@example.invalid",
        'Katu "1", A\\B\tC',
        "80100",
        "Joensuu, itä",
        phone="040 111 2233",
        consents="kk",
    ),
    # No email and no address; a number with a significant leading zero; an objection.
    row("Zoë", "D\u2019Angelo", "", phone="+39 06 6982 3456", consents=" kk"),
    # Would-be formulas, stored as typed.
    row("Eino", "Ääkkönen", "eino@example.invalid", '=HYPERLINK("http://x")', "00100", "=1+2"),
    row("Ilmari", "Lahti", "ilmari@example.invalid", "+358 40", "", "@SUM(A1)", consents="k"),
    # Line breaks inside a value, an emoji.
    row("Toini", "Väisänen", "toini@example.invalid", "Rivi 1\nRivi 2\r\nRivi 3", "", "🎉 Kylä"),
    # COPY's own markers as data: end of data, NULL in text format, a lone quote.
    row("Saara", "Nieminen", "saara@example.invalid", "\\.", "", "\\N", phone="050 123 4567"),
    row("Ella", "Kallio", "ella@example.invalid", "x\n\\.\ny", "", '"'),
    row("Ville", "Virtanen", "ville@example.invalid", '""', "", ","),
    # Only a postal address.
    row("Kaisa", "Mäkelä", "", "Koulukatu 2 B 7", "00100", "Helsinki"),
]


@pytest.fixture
def hostile_rows(staff_member):
    """The rows of HOSTILE as the import checks them: all to be added."""
    email_text = ConsentText.objects.create(channel="email", version=91, wording='"Kyllä", \\')
    sms_text = ConsentText.objects.create(channel="sms", version=92, wording="Tekstiviestit.")
    options = ImportOptions(
        source="web_registration",
        consent_date=datetime.date(2026, 3, 1),
        consent_method="in_person",
        email_text=email_text,
        sms_text=sms_text,
    )
    content = csv_bytes([[*HEADER, *CONSENTS], *HOSTILE])
    customer_import = import_upload(
        file_name="vihamielinen.csv", content=content, by=staff_member, check_rows=False
    )
    table = read_table(content)
    analysis = analyse(table, guess_mapping(table.headers), options)
    assert [row.reasons for row in analysis.rows] == [[]] * len(HOSTILE)
    added = analysis.of(Outcome.CREATE)
    # The file's whitespace is folded to spaces before the writing; the
    # writing must not rely on it.
    added[0].data["street_address"] = 'Katu "1", A\\B\tC'
    added[4].data["street_address"] = "Rivi 1\nRivi 2\r\nRivi 3"
    added[6].data["street_address"] = "x\n\\.\ny"
    return added, customer_import, options


def table_rows(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def written(customer_ids):
    """The rows written for these customers, column by column, with the ids
    replaced by each customer's place in the file."""
    place = {pk: number for number, pk in enumerate(customer_ids)}
    customers = table_rows(
        "SELECT * FROM registry_customer WHERE id = ANY(%s) ORDER BY id", [customer_ids]
    )
    consents = table_rows(
        "SELECT * FROM registry_consent WHERE customer_id = ANY(%s) ORDER BY id", [customer_ids]
    )
    events = table_rows(
        "SELECT * FROM registry_auditevent WHERE target_type = 'registry.customer' "
        "AND target_id = ANY(%s) ORDER BY id",
        [[str(pk) for pk in customer_ids]],
    )
    for row in customers:
        row["id"] = place[row["id"]]
    for row in consents:
        del row["id"]
        row["customer_id"] = place[row["customer_id"]]
    for row in events:
        del row["id"]
        row["target_id"] = place[int(row["target_id"])]
    return customers, consents, events


def imported_ids(customer_import, *, after=0):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM registry_customer WHERE imported_in_id = %s AND id > %s ORDER BY id",
            [customer_import.pk, after],
        )
        return [pk for (pk,) in cursor.fetchall()]


@pytest.mark.django_db
def test_copy_writes_what_bulk_create_writes(staff_member, hostile_rows):
    added, customer_import, options = hostile_rows
    now = timezone.now()
    writer = AddedRowsWriter(
        customer_import=customer_import,
        options=options,
        by=staff_member,
        now=now,
        ip_address="2001:db8::1",
    )
    writer.write(added, batch_size=4, copy=True)
    copied_ids = imported_ids(customer_import)
    writer.write(added, batch_size=4, copy=False)
    created_ids = imported_ids(customer_import, after=copied_ids[-1])

    copied, created = written(copied_ids), written(created_ids)
    assert len(copied[0]) == len(created[0]) == len(HOSTILE)
    assert len(copied[1]) == len(created[1]) == 5  # 2 email, 2 SMS, 1 objection
    assert len(copied[2]) == len(created[2]) == len(HOSTILE)
    # The ORM's auto_now gives the moment each object was prepared; COPY the
    # moment of the import, as created_at.
    for row in copied[0]:
        assert row.pop("updated_at") == row["created_at"] == now
    for row in created[0]:
        assert row.pop("updated_at") >= now
    assert copied == created
    # The importer's role at the time, in both ways (the access report tells it).
    assert {row["recorded_by_role"] for row in copied[1]} == {"staff"}
    assert {row["actor_role"] for row in copied[2]} == {"staff"}
    # The hostile values arrived as typed.
    addresses = [row["street_address"] for row in copied[0]]
    assert 'Katu "1", A\\B\tC' in addresses
    assert "Rivi 1\nRivi 2\r\nRivi 3" in addresses
    assert {"\\.", "x\n\\.\ny", '""', '=HYPERLINK("http://x")'} <= set(addresses)
    assert {'"', ",", "\\N", "🎉 Kylä", "@SUM(A1)"} <= {row["city"] for row in copied[0]}


@pytest.mark.django_db
@pytest.mark.parametrize("copy", [True, False], ids=["copy", "bulk_create"])
def test_a_nul_character_is_refused_by_both_ways(staff_member, hostile_rows, copy):
    """The forms refuse NUL, which PostgreSQL's text cannot hold; were one to
    get past them, neither way writes a row."""
    added, customer_import, options = hostile_rows
    added[1].data["city"] = "Kylä\x00"
    writer = AddedRowsWriter(
        customer_import=customer_import,
        options=options,
        by=staff_member,
        now=timezone.now(),
        ip_address=None,
    )
    with pytest.raises(ValueError), transaction.atomic():
        writer.write(added, copy=copy)
    assert imported_ids(customer_import) == []
