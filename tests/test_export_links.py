"""Which exports held customer X: every export of specific customers links
each customer in its file to its audit event (AuditEventCustomer), in the
event's transaction or, for a file the task worker writes, with the rows it
writes; the whole-register export links nobody and covers the customers
added until its moment. The customer's trail and access report say so."""

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from courses.participants import participant_list_export
from registry import services
from registry.audit.models import AuditEvent, AuditEventCustomer
from registry.audit.services import audit_event_create
from registry.marketing.models import MarketingExportRow
from registry.models import Customer, RegisterExport
from registry.rights.documents import access_document
from registry.rights.selectors import access_report, export_in_words

from .factories import ConsentFactory, CourseFactory, CustomerFactory, EnrollmentFactory
from .test_worker import run_workers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("export_dir")]


def linked(event):
    return set(
        AuditEventCustomer.objects.filter(event=event).values_list("customer_id", flat=True)
    )


def exported_events(customer):
    """The exports that held `customer`, or (a number) the customer with that
    number, as the trail's customer filter finds them."""
    if isinstance(customer, int):
        events = services.audit_trail_events({"customer_id": customer}).order_by()
    else:
        events = AuditEvent.objects.for_customer(customer)
    return list(events.filter(action__endswith="_exported").values_list("action", flat=True))


def on_email_list(count=1, **fields):
    customers = CustomerFactory.create_batch(count, **fields)
    for customer in customers:
        ConsentFactory(customer=customer)
    return customers


def document_text(customer):
    document = access_document(access_report(customer), "en")
    return " ".join(
        str(cell) for section in document.sections for row in section.rows for cell in row
    )


# --- participant lists ----------------------------------------------------


def export_participants(client, course, **data):
    response = client.post(
        reverse("courses:participant-export", args=[course.pk]),
        {
            "columns": ["first_name", "last_name"],
            "file_format": "csv",
            "purpose": "ovelle",
            **data,
        },
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    b"".join(response.streaming_content)
    return AuditEvent.objects.filter(action=AuditEvent.Action.PARTICIPANT_LIST_EXPORTED).latest(
        "id"
    )


@pytest.mark.parametrize("waitlist", [True, False])
def test_a_participant_list_links_exactly_the_participants_in_its_file(
    client, staff_member, waitlist
):
    course = CourseFactory(title="Kevätjooga", capacity=1)
    enrolled = EnrollmentFactory(course=course).customer
    waiting = EnrollmentFactory(course=course, status="waitlisted").customer
    cancelled = EnrollmentFactory(course=course, status="cancelled").customer
    elsewhere = EnrollmentFactory().customer
    client.force_login(staff_member)
    event = export_participants(client, course, **({"waitlist": "on"} if waitlist else {}))
    assert linked(event) == ({enrolled.pk, waiting.pk} if waitlist else {enrolled.pk})
    assert exported_events(enrolled) == ["participant_list_exported"]
    assert exported_events(waiting) == (["participant_list_exported"] if waitlist else [])
    assert exported_events(cancelled) == exported_events(elsewhere) == []


def test_a_participant_lists_export_costs_the_same_queries_for_3_and_30(client, staff_member):
    client.force_login(staff_member)
    counts = []
    for rows in (3, 30):
        course = CourseFactory(capacity=40)
        EnrollmentFactory.create_batch(rows, course=course)
        with CaptureQueriesContext(connection) as queries:
            event = export_participants(client, course)
        counts.append(len(queries.captured_queries))
        assert len(linked(event)) == rows
    assert counts[0] == counts[1]


def test_the_participants_trail_and_access_report_name_the_course(
    client, staff_member, register_manager
):
    course = CourseFactory(title="Kevätjooga")
    customer = EnrollmentFactory(course=course).customer
    participant_list_export(
        course=course, columns=["first_name"], purpose="ovelle", file_format="csv", by=staff_member
    )
    report = access_report(customer)
    assert {
        "role": "staff",
        "action": "participant_list_exported",
        "exported": {"what": "participant_list", "course": "Kevätjooga"},
    }.items() <= report["processing"][-1].items()
    assert "Participant list of Kevätjooga exported" in document_text(customer)
    client.force_login(register_manager)
    page = client.get(reverse("registry:customer-detail", args=[customer.pk])).content.decode()
    words = export_in_words({"what": "participant_list", "course": "Kevätjooga"})
    assert words in page


# --- marketing lists ------------------------------------------------------


def export_marketing(client, **data):
    response = client.post(
        reverse("registry:marketing-list"),
        {"channel": "email", "city": "", "purpose": "kevään uutiskirje", **data},
    )
    return response


def test_a_marketing_list_links_exactly_the_customers_in_its_file(client, register_manager):
    listed = on_email_list(2, city="Tampere")
    elsewhere = on_email_list(city="Turku")[0]
    withdrawn = CustomerFactory(city="Tampere")
    ConsentFactory(customer=withdrawn)
    ConsentFactory(customer=withdrawn, event="withdrawn")
    objected = on_email_list(city="Tampere")[0]
    ConsentFactory(customer=objected, channel="direct_marketing", event="objection", text=None)
    restricted = on_email_list(city="Tampere", restricted_since=timezone.now())[0]
    client.force_login(register_manager)
    response = export_marketing(client, city="Tampere")
    assert response.status_code == 200
    assert len(b"".join(response.streaming_content).decode().splitlines()) == 3
    event = AuditEvent.objects.get(action=AuditEvent.Action.MARKETING_LIST_EXPORTED)
    assert linked(event) == {customer.pk for customer in listed}
    assert linked(event) == set(MarketingExportRow.objects.values_list("customer_id", flat=True))
    for customer in (elsewhere, withdrawn, objected, restricted):
        assert exported_events(customer) == []
    assert exported_events(listed[0]) == ["marketing_list_exported"]
    report = access_report(listed[0])
    assert report["processing"][-1]["exported"] == {"what": "marketing_list", "channel": "email"}
    assert "Marketing list exported (Email)" in document_text(listed[0])


def test_a_marketing_lists_export_costs_the_same_queries_for_3_and_30(register_manager):
    counts = []
    for rows in (3, 30):
        on_email_list(rows, city=f"Kaupunki {rows}")
        by = User.objects.get(pk=register_manager.pk)  # as in a request: roles not yet read
        with CaptureQueriesContext(connection) as queries:
            _columns, count, file_rows = services.marketing_list_export(
                channel="email", city=f"Kaupunki {rows}", purpose="uutiskirje", by=by
            )
            list(file_rows)
        counts.append(len(queries.captured_queries))
        assert count == rows
        event = AuditEvent.objects.filter(action="marketing_list_exported").latest("id")
        assert len(linked(event)) == rows
    assert counts[0] == counts[1]


def test_a_queued_marketing_list_is_linked_by_the_writer_with_its_rows(register_manager):
    """Written in the worker (here in the test's thread): the event is the
    request's, the links come with the rows, in the same number of queries
    whatever their number."""
    counts = []
    for rows in (3, 30):
        on_email_list(rows, city=f"Kaupunki {rows}")
        export = services.marketing_list_export_request(
            channel="email",
            city=f"Kaupunki {rows}",
            purpose="uutiskirje",
            count=rows,
            by=register_manager,
        )
        event = AuditEvent.objects.filter(action="marketing_list_exported").latest("id")
        assert linked(event) == set()  # nothing yet: the worker writes whom
        with CaptureQueriesContext(connection) as queries:
            services.export_write(export)
        counts.append(len(queries.captured_queries))
        assert len(linked(event)) == rows
        assert linked(event) == set(
            MarketingExportRow.objects.filter(
                export_id=export.parameters["marketing_export"]
            ).values_list("customer_id", flat=True)
        )
    assert counts[0] == counts[1]


# --- the whole register ---------------------------------------------------


def test_the_whole_register_export_covers_the_customers_added_until_its_moment(register_manager):
    earlier = CustomerFactory(first_name="Ennen")
    export = services.register_export_request(
        file_format="csv", purpose="siirto", by=register_manager
    )
    event = AuditEvent.objects.get(action=AuditEvent.Action.REGISTER_EXPORTED)
    assert event.target_type == "registry.registerexport" and event.target_id == str(export.pk)
    # Added after the export was asked for, before the worker wrote it.
    later = CustomerFactory(first_name="Jälkeen")
    services.export_write(export)
    export.refresh_from_db()
    text = export.path.read_text(encoding="utf-8-sig")
    assert "Ennen" in text and "Jälkeen" not in text
    assert export.row_count == 1
    assert not AuditEventCustomer.objects.exists()  # no link per customer
    assert exported_events(earlier) == ["register_exported"]
    assert exported_events(earlier.pk) == ["register_exported"]
    assert exported_events(later) == exported_events(later.pk) == []
    assert AuditEvent.objects.whole_register_exports(later).count() == 0
    assert {"what": "whole_register"} in [
        entry.get("exported") for entry in access_report(earlier)["processing"]
    ]
    assert "Customer register exported (whole register)" in document_text(earlier)
    assert "Customer register exported" not in document_text(later)


def test_an_older_whole_register_export_without_a_target_held_the_customers_added_before_it(
    client, register_manager
):
    """Register exports recorded before their event named the export (no
    target, no RegisterExport link) held the register of their moment."""
    earlier = CustomerFactory()
    old = audit_event_create(
        action=AuditEvent.Action.REGISTER_EXPORTED,
        by=register_manager,
        detail={"rows": 1, "format": "csv", "purpose": "siirto"},
    )
    assert old.target_type == "" and old.target_id == ""
    later = CustomerFactory()
    assert exported_events(earlier) == exported_events(earlier.pk) == ["register_exported"]
    assert exported_events(later) == exported_events(later.pk) == []
    assert {"what": "whole_register"} in [
        entry.get("exported") for entry in access_report(earlier)["processing"]
    ]
    assert "Customer register exported (whole register)" in document_text(earlier)
    assert "Customer register exported" not in document_text(later)
    # The register manager's filtered trail and the customer page find it too.
    client.force_login(register_manager)
    page = client.get(reverse("registry:customer-detail", args=[earlier.pk])).content.decode()
    assert export_in_words({"what": "whole_register"}) in page
    page = client.get(reverse("registry:customer-detail", args=[later.pk])).content.decode()
    assert export_in_words({"what": "whole_register"}) not in page


def test_other_events_without_a_target_are_not_exports_of_the_customer(register_manager):
    customer = CustomerFactory()
    audit_event_create(action=AuditEvent.Action.AUDIT_TRAIL_EXPORTED, by=register_manager)
    audit_event_create(action=AuditEvent.Action.LOGIN, by=register_manager)
    assert list(AuditEvent.objects.for_customer(customer).values_list("action", flat=True)) == []


def test_a_merged_record_keeps_the_earlier_time_and_the_exports_of_it(register_manager):
    earlier = CustomerFactory()
    services.register_export_request(file_format="csv", purpose="siirto", by=register_manager)
    later = CustomerFactory()
    assert exported_events(later) == []
    kept = services.customer_merge(keep=later, remove=earlier, values={}, by=register_manager)
    assert exported_events(kept) == ["register_exported"]


def test_the_customer_page_says_the_whole_register_was_exported(client, register_manager):
    customer = CustomerFactory()
    services.register_export_request(file_format="csv", purpose="siirto", by=register_manager)
    client.force_login(register_manager)
    page = client.get(reverse("registry:customer-detail", args=[customer.pk])).content.decode()
    assert export_in_words({"what": "whole_register"}) in page


# --- the real worker ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_worker_links_a_big_marketing_list_and_writes_the_register_as_of_its_event(
    tmp_path, register_manager, settings
):
    settings.EXPORT_DIR = tmp_path / "exports"
    listed = on_email_list(3)
    not_listed = CustomerFactory()
    marketing = services.marketing_list_export_request(
        channel="email", purpose="uutiskirje", count=3, by=register_manager
    )
    register = services.register_export_request(
        file_format="csv", purpose="siirto", by=register_manager
    )
    later = CustomerFactory(first_name="Myöhempi")
    run_workers(tmp_path)
    marketing.refresh_from_db()
    register.refresh_from_db()
    assert marketing.task_state == register.task_state == "done", marketing.task_error
    event = AuditEvent.objects.get(action=AuditEvent.Action.MARKETING_LIST_EXPORTED)
    assert linked(event) == {customer.pk for customer in listed}
    assert exported_events(not_listed) == ["register_exported"]
    assert register.row_count == Customer.objects.count() - 1
    assert "Myöhempi" not in register.path.read_text(encoding="utf-8-sig")
    assert exported_events(later) == []
    assert RegisterExport.objects.count() == 2


def test_the_customer_pages_latest_events_are_the_newest_of_all_three_sources(
    client, register_manager
):
    """The customer page takes its 20 events through latest_for_customer (on
    PostgreSQL each source cut to 20 on its own index before the union): the
    same 20 as the newest of for_customer, from events about the customer,
    list reads that showed them and whole-register exports."""
    customer, other = CustomerFactory(), CustomerFactory()
    for round_ in range(12):
        audit_event_create(
            action=AuditEvent.Action.CUSTOMER_VIEWED, by=register_manager, target=customer
        )
        audit_event_create(
            action=AuditEvent.Action.CUSTOMER_VIEWED, by=register_manager, target=other
        )
        read = audit_event_create(
            action=AuditEvent.Action.CUSTOMER_SEARCHED, by=register_manager, detail={}
        )
        AuditEventCustomer.objects.create(event=read, customer_id=customer.pk)
        if round_ % 3 == 0:
            audit_event_create(
                action=AuditEvent.Action.REGISTER_EXPORTED,
                by=register_manager,
                detail={"rows": 2, "format": "csv", "purpose": "varmuus"},
            )
    expected = list(AuditEvent.objects.for_customer(customer).order_by("-at", "-id")[:20])
    latest = list(AuditEvent.objects.latest_for_customer(customer, 20))
    assert latest == expected
    assert {event.action for event in latest} == {
        "customer_viewed",
        "customer_searched",
        "register_exported",
    }
    client.force_login(register_manager)
    page = client.get(customer.get_absolute_url())
    assert list(page.context["audit_events"])[1:] == expected[:19]  # [0]: this read
