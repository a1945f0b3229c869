"""The access report is complete (GDPR art. 15): the person's own requests,
the earlier values of their details, the texts of their messages while kept,
and every table an erasure touches; on the page, in the JSON and in the PDF,
about the person asked for and nobody else."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from registry import erasure
from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.models import Customer
from registry.rights.documents import access_document, document_pdf
from registry.rights.selectors import NOT_IN_REPORT, REPORT_SECTIONS, access_report
from registry.rights.services import case_log, case_update
from registry.services import customer_merge, customer_update
from registry.suppression import digests_of, keep_digests

from .factories import CustomerFactory, MessageFactory
from .test_rights import access_report_pdf_text

pytestmark = pytest.mark.django_db

#: The new sections' titles in the customer's language.
TITLES = {
    "en": [
        "Earlier values of your details",
        "Messages sent to you",
        "Your requests about your data",
    ],
    "fi": ["Tietojesi aiemmat arvot", "Sinulle lähetetyt viestit", "Pyyntösi tiedoistasi"],
}


def a_customer_with_history(*, name, city, new_city, note, subject, body, by):
    """A customer with a request (with notes), a change of their city made for
    it, a message whose text is kept and one whose text was purged."""
    customer = CustomerFactory(first_name=name, last_name="Esimerkki", city=city)
    case = case_log(
        customer=customer,
        kind="rectification",
        received_on=timezone.localdate() - timedelta(days=3),
        identity_verification=note,
        by=by,
    )
    customer_update(customer=customer, data={"city": new_city}, by=by, case_id=case.pk)
    case_update(
        case=case, data={"status": "done", "outcome": f"{note}: korjattu"}, by=by, version=None
    )
    MessageFactory(customer=customer, subject=subject, body=body)
    MessageFactory(
        customer=customer,
        subject=f"{subject} (vanha)",
        body="",
        body_deleted_at=timezone.now() - timedelta(days=1),
    )
    return customer, case


@pytest.fixture
def two_customers(register_manager):
    asked = a_customer_with_history(
        name="Aino",
        city="Vanhakylä",
        new_city="Uusikylä",
        note="Henkilökortti nähty",
        subject="Muistutus Pilates",
        body="Tervetuloa Pilatekseen torstaina",
        by=register_manager,
    )
    other = a_customer_with_history(
        name="Olli",
        city="Toisenkylä",
        new_city="Kolmaskylä",
        note="Ajokortti Muukalainen",
        subject="Muistutus Zumba",
        body="Zumbasali vaihtui",
        by=register_manager,
    )
    return asked, other


def the_other_ones_values(other, case):
    return [
        other.first_name,
        "Toisenkylä",
        "Kolmaskylä",
        "Ajokortti",
        "Muukalainen",
        "Zumba",
        case.reference,
    ]


def report_in_every_form(client, user, customer, language):
    """The page, the JSON and the PDF's text (without white space: the PDF
    wraps words inside narrow columns)."""
    client.force_login(user)
    url = reverse("registry:access-report", args=[customer.pk])
    page = client.get(url, {"language": language})
    data = client.get(url, {"format": "json"})
    pdf = client.get(url, {"format": "pdf", "language": language})
    assert page.status_code == data.status_code == pdf.status_code == 200
    return (
        page.content.decode(),
        json.loads(data.content),
        "".join(access_report_pdf_text(pdf.content).split()),
    )


@pytest.mark.parametrize("language", ["fi", "en"])
def test_requests_earlier_values_and_message_texts_are_in_every_form(
    client, register_manager, two_customers, language
):
    (asked, case), (other, other_case) = two_customers

    page, data, pdf = report_in_every_form(client, register_manager, asked, language)

    [request] = data["requests"]
    assert request == {
        "reference": case.reference,
        "kind": "rectification",
        "received_on": case.received_on.isoformat(),
        "identity_verification": "Henkilökortti nähty",
        "deadline": case.deadline.isoformat(),
        "extension_reason": "",
        "status": "done",
        "completed_on": timezone.localdate().isoformat(),
        "outcome": "Henkilökortti nähty: korjattu",
    }
    [change] = data["changes"]
    assert (
        change.items()
        >= {
            "action": "customer_changed",
            "field": "city",
            "old": "Vanhakylä",
            "new": "Uusikylä",
            "request": case.reference,
        }.items()
    )
    texts = [(m["subject"], m["body"], bool(m["body_deleted_at"])) for m in data["messages"]]
    assert texts == [
        ("Muistutus Pilates", "Tervetuloa Pilatekseen torstaina", False),
        ("Muistutus Pilates (vanha)", "", True),
    ]
    shown = ["Vanhakylä", "Uusikylä", case.reference, "Henkilökortti nähty", "korjattu"]
    shown += ["Muistutus Pilates", "Tervetuloa Pilatekseen torstaina", *TITLES[language]]
    for text in shown:
        assert text in page, text
        assert "".join(text.split()) in pdf, text
    # A purged text says when it went.
    deleted = {"fi": "Poistettu", "en": "Deleted"}[language]
    assert deleted in page and deleted in pdf
    for text in the_other_ones_values(other, other_case):
        for form in (page, json.dumps(data, ensure_ascii=False), pdf):
            assert text not in form, text


def test_the_values_of_a_record_merged_in_are_the_persons_too(register_manager):
    """The history of a record merged into the customer's (followed from the
    merge event) gives its earlier values; another customer's never."""
    keep = CustomerFactory(city="Pitkäkylä")
    remove = CustomerFactory(city="Lyhytkylä")
    bystander = CustomerFactory(city="Sivukylä")
    customer_update(customer=remove, data={"city": "Keskikylä"}, by=register_manager)
    customer_update(customer=bystander, data={"city": "Muukylä"}, by=register_manager)
    customer_merge(keep=keep, remove=remove, values={"city": "Keskikylä"}, by=register_manager)

    changes = access_report(keep)["changes"]

    assert [(c["action"], c["old"], c["new"]) for c in changes] == [
        ("customer_changed", "Lyhytkylä", "Keskikylä"),
        ("customer_merged", "Pitkäkylä", "Keskikylä"),
    ]
    assert "Sivukylä" not in json.dumps(access_report(keep))


def test_an_address_on_the_suppression_list_is_told(client, register_manager):
    """The keyed hash of an address kept from an earlier, erased record is
    data about whoever holds the address now: the report says since when."""
    customer = CustomerFactory(email="palannut@example.invalid")
    keep_digests(set(digests_of(email="PALANNUT@example.invalid")), timezone.now())

    page, data, pdf = report_in_every_form(client, register_manager, customer, "en")

    assert data["suppressed_since"] is not None
    assert "Suppression list of marketing" in page and "Suppressionlistofmarketing" in pdf
    assert access_report(CustomerFactory())["suppressed_since"] is None


#: Audit details of shapes the register never writes, but a backup, a bug or
#: a hand in the database might leave: the report shows them, never fails.
ODD_CHANGES = [
    {"city": "pelkkä teksti"},
    {"city": ["vain vanha"]},
    {"city": [None, 5]},
    {"created_at": ["ei aika", "2027-01-01"]},
    {"enrollments": [1, 2]},
    {"": ["", ""]},
]


def test_changes_of_odd_shapes_are_shown_as_far_as_they_go(client, register_manager):
    customer = CustomerFactory()
    for changes in ODD_CHANGES:
        audit_event_create(
            action=AuditEvent.Action.CUSTOMER_CHANGED,
            target=customer,
            detail={"changes": changes, "case_id": True},
        )
    audit_event_create(
        action=AuditEvent.Action.CUSTOMER_CHANGED, target=customer, detail={"changes": ["x"]}
    )

    page, data, pdf = report_in_every_form(client, register_manager, customer, "fi")

    assert len(data["changes"]) == len(ODD_CHANGES)
    assert {c["request"] for c in data["changes"]} == {""}
    for text in ("pelkkä teksti", "vain vanha", "ei aika"):
        assert text in page and "".join(text.split()) in pdf


def test_hostile_values_are_safe_in_the_pdf_and_escaped_on_the_page(
    client, register_manager, staff_member
):
    """Markup, a text longer than a page, the page count's placeholder and
    letters the font lacks, in a request's notes, a change and a message."""
    hostile = '<a href="https://evil.example">{nb}</a> 李小龍'
    long_text = " ".join(["Kurssi alkaa torstaina kello kuusi."] * 300)
    unbroken = "https://example.invalid/" + "y" * 3000
    customer = CustomerFactory(city="Kylä")
    case = case_log(
        customer=customer,
        kind="access",
        received_on=timezone.localdate(),
        identity_verification=hostile,
        by=register_manager,
    )
    # The longest outcome the field holds (300 characters; PostgreSQL refuses more).
    case_update(case=case, data={"outcome": long_text[:300]}, by=register_manager)
    customer_update(customer=customer, data={"city": hostile}, by=staff_member)
    MessageFactory(customer=customer, subject=hostile, body=f"{long_text}\n{unbroken}")

    page, data, pdf = report_in_every_form(client, register_manager, customer, "fi")

    assert hostile not in page and "&lt;a href=&quot;https://evil.example&quot;&gt;" in page
    assert data["requests"][0]["identity_verification"] == hostile
    assert pdf.count("{nb}") >= 3 and "李" not in pdf and "\ufffd\ufffd\ufffd" in pdf
    # All of the long texts, below their tables.
    assert pdf.count("Kurssialkaatorstainakellokuusi.") >= 298 + 8
    assert "y" * 1000 in pdf and unbroken[-40:] in pdf


def test_a_nul_character_does_not_break_the_document(register_manager):
    """PostgreSQL refuses a NUL, SQLite keeps one: a report from an older
    SQLite register may hold it. The PDF marks it, as any character the font
    cannot draw."""
    customer = CustomerFactory()
    case_log(
        customer=customer,
        kind="access",
        received_on=timezone.localdate(),
        identity_verification="kortti",
        by=register_manager,
    )
    MessageFactory(customer=customer)
    customer_update(customer=customer, data={"city": "Kylä"}, by=register_manager)
    report = access_report(customer)
    report["requests"][0]["outcome"] = "ennen\x00jälkeen"
    report["messages"][0]["body"] = "viesti\x00"
    report["changes"][0]["old"] = "\x00"

    text = "".join(access_report_pdf_text(document_pdf(access_document(report, "fi"))).split())

    assert "ennen\ufffdjälkeen" in text and "viesti\ufffd" in text


def count_queries(client, url, query):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, query).status_code == 200
    return len(queries)


@pytest.mark.parametrize("query", [{}, {"format": "json"}, {"format": "pdf"}])
def test_the_report_takes_as_many_queries_for_many_rows_as_for_few(
    client, register_manager, staff_member, query
):
    customer = CustomerFactory()
    client.force_login(register_manager)
    url = reverse("registry:access-report", args=[customer.pk])

    def add_rows():
        case = case_log(
            customer=customer,
            kind="access",
            received_on=timezone.localdate(),
            identity_verification="kortti",
            by=register_manager,
        )
        customer_update(
            customer=customer,
            data={"city": f"Kylä {case.pk}"},
            by=staff_member,
            case_id=case.pk,
        )
        MessageFactory(customer=customer)

    add_rows()
    few = count_queries(client, url, query)
    for _ in range(4):
        add_rows()
    assert count_queries(client, url, query) == few


def test_every_table_an_erasure_touches_is_in_the_report_or_says_why_not():
    """A new erasure handler (a new kind of data about the person) must say
    where the access report shows its data, or why it does not; a model that
    points at the customer is always shown."""
    handlers = set(erasure.erasure_handlers(Customer))
    assert handlers == set(REPORT_SECTIONS) | set(NOT_IN_REPORT)
    assert not set(REPORT_SECTIONS) & set(NOT_IN_REPORT)
    relations = {rel.related_model._meta.label_lower for rel in Customer._meta.related_objects}
    assert relations <= set(REPORT_SECTIONS)
    report = access_report(CustomerFactory())
    for label, keys in REPORT_SECTIONS.items():
        assert set(keys) <= set(report), label


def test_the_case_forms_say_the_customer_reads_the_notes(client, register_manager):
    customer = CustomerFactory()
    client.force_login(register_manager)
    page = client.get(reverse("registry:request-create", args=[customer.pk]))
    assert "Asiakas lukee tämän tarkastusraportistaan" in page.content.decode()
