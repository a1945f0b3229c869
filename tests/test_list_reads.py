"""A list read is linked to each customer it showed (AuditEventCustomer), so
"who saw customer X, and when?" finds the lists too: for_customer, the audit
trail's customer filter, the customer page and the access report (the
auditor's finding: lists were one event with counts, naming nobody)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from courses.models import Enrollment
from registry.audit import services
from registry.audit.models import AppendOnlyError, AuditEvent, AuditEventCustomer
from registry.models import Customer
from registry.rights.erasure import customers_erase
from registry.rights.selectors import access_report
from registry.services import customer_merge

from .factories import CourseFactory, CustomerFactory, EnrollmentFactory, MessageFactory

pytestmark = pytest.mark.django_db


def linked(event):
    return set(event.shown_customers.values_list("customer_id", flat=True))


def last_read(action=AuditEvent.Action.CUSTOMER_SEARCHED):
    return AuditEvent.objects.filter(action=action).order_by("-id").first()


def test_the_customer_list_links_exactly_the_customers_on_its_page(client, staff_member):
    CustomerFactory.create_batch(55, city="Kuopio")
    client.force_login(staff_member)
    first = client.get(reverse("registry:customer-list"))
    on_first = {c.pk for c in first.context["customers"]}
    assert len(on_first) == 50
    event = last_read()
    assert linked(event) == on_first and event.detail["rows"] == 50
    second = client.get(reverse("registry:customer-list"), {"page": 2})
    on_second = {c.pk for c in second.context["customers"]}
    assert len(on_second) == 5 and linked(last_read()) == on_second
    assert not on_first & on_second


def test_a_search_links_only_what_it_found(client, staff_member):
    found = CustomerFactory(last_name="Hakulinen")
    CustomerFactory.create_batch(3, last_name="Muu")
    client.force_login(staff_member)
    client.get(reverse("registry:customer-list"), {"q": "Hakulinen"})
    assert linked(last_read()) == {found.pk}


def test_the_customer_list_adds_one_query_whatever_the_rows(client, staff_member):
    client.force_login(staff_member)
    url = reverse("registry:customer-list")
    CustomerFactory.create_batch(2)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    CustomerFactory.create_batch(50)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)
    inserts = [q["sql"] for q in many if "registry_auditeventcustomer" in q["sql"]]
    assert len(inserts) == 1 and inserts[0].startswith("INSERT")


def test_the_merge_pages_lists_link_their_candidates(client, register_manager):
    customer = CustomerFactory(first_name="Aino", email="aino.kaksonen@example.invalid")
    twin = CustomerFactory(first_name="Aino", email="aino.kaksonen@example.invalid")
    CustomerFactory(last_name="Etsittävä")
    client.force_login(register_manager)
    url = reverse("registry:customer-merge-pick", args=[customer.pk])
    client.get(url)
    assert linked(last_read()) == {twin.pk}
    client.get(url, {"q": "Etsittävä"})
    assert linked(last_read()) == set(
        Customer.objects.filter(last_name="Etsittävä").values_list("pk", flat=True)
    )


def test_the_retention_list_links_its_candidates(client, register_manager):
    old = CustomerFactory.create_batch(3)
    Customer.objects.filter(pk__in=[c.pk for c in old]).update(
        last_activity_at=timezone.now() - timedelta(days=4 * 365)
    )
    CustomerFactory()  # active: not listed
    client.force_login(register_manager)
    client.get(reverse("registry:retention"))
    assert linked(last_read()) == {c.pk for c in old}


def test_the_outbox_links_the_customers_of_its_messages(client, staff_member):
    messages = MessageFactory.create_batch(3)
    CustomerFactory()  # no message: not on the page
    client.force_login(staff_member)
    assert client.get(reverse("courses:outbox")).status_code == 200
    assert linked(last_read()) == {m.customer_id for m in messages}


def test_the_participant_list_links_the_enrolled_and_the_waiting(client, staff_member):
    course = CourseFactory(capacity=2)
    taking = EnrollmentFactory.create_batch(2, course=course, status=Enrollment.Status.ENROLLED)
    waiting = EnrollmentFactory(course=course, status=Enrollment.Status.WAITLISTED)
    EnrollmentFactory(status=Enrollment.Status.ENROLLED)  # another course
    client.force_login(staff_member)
    client.get(course.get_absolute_url())
    event = last_read(AuditEvent.Action.PARTICIPANT_LIST_VIEWED)
    assert linked(event) == {e.customer_id for e in [*taking, waiting]}


def test_the_course_pages_search_links_what_it_showed(client, staff_member):
    course = CourseFactory()
    found = CustomerFactory(last_name="Hakuinen")
    CustomerFactory(last_name="Muu")
    client.force_login(staff_member)
    client.get(course.get_absolute_url(), {"q": "Hakuinen"})
    assert linked(last_read()) == {found.pk}


def test_the_roll_call_and_the_grid_link_their_rows(client, staff_member):
    course = CourseFactory(starts_at=timezone.now() - timedelta(hours=1))
    rows = EnrollmentFactory.create_batch(3, course=course, status=Enrollment.Status.ENROLLED)
    session = course.sessions.get()
    client.force_login(staff_member)
    client.get(reverse("courses:roll-call", args=[course.pk, session.pk]))
    expected = {e.customer_id for e in rows}
    assert linked(last_read(AuditEvent.Action.PARTICIPANT_LIST_VIEWED)) == expected
    client.get(reverse("courses:attendance-grid", args=[course.pk]))
    event = last_read(AuditEvent.Action.PARTICIPANT_LIST_VIEWED)
    assert event.detail["view"] == "attendance_grid" and linked(event) == expected


def test_the_message_preview_links_its_recipients(client, staff_member):
    course = CourseFactory()
    rows = EnrollmentFactory.create_batch(2, course=course, status=Enrollment.Status.ENROLLED)
    client.force_login(staff_member)
    data = {"audience": "participants", "subject": "Sali vaihtui", "text": "Olemme salissa 2."}
    client.post(reverse("courses:course-message", args=[course.pk]), data)
    event = last_read(AuditEvent.Action.PARTICIPANT_LIST_VIEWED)
    assert event.detail["view"] == "message_preview"
    assert linked(event) == {e.customer_id for e in rows}


def test_every_participant_list_says_how_many_customers_it_showed(client, staff_member):
    """As a page of the customer list does (`rows`), so that the unusual-activity
    alert and the access review count them: the course page (its enrolled, the
    waiting list and the cancelled), roll call, the attendance grid and a
    message's preview. An erased participant's row names nobody and is not
    counted (the audit of participant-list reads: a 1,000-person lecture paged
    through left events without a count)."""
    course = CourseFactory(capacity=10, starts_at=timezone.now() - timedelta(hours=1))
    enrolled = EnrollmentFactory.create_batch(3, course=course)
    EnrollmentFactory(course=course, customer=None)  # erased
    EnrollmentFactory(course=course, status=Enrollment.Status.WAITLISTED)
    EnrollmentFactory(course=course, status=Enrollment.Status.CANCELLED)
    session = course.sessions.get()
    client.force_login(staff_member)

    def rows_of_last_read():
        event = last_read(AuditEvent.Action.PARTICIPANT_LIST_VIEWED)
        assert event.detail["rows"] == len(linked(event))
        return event.detail["rows"]

    client.get(course.get_absolute_url())
    assert rows_of_last_read() == 5
    client.get(reverse("courses:roll-call", args=[course.pk, session.pk]))
    assert rows_of_last_read() == 3
    client.get(reverse("courses:attendance-grid", args=[course.pk]))
    assert rows_of_last_read() == 3
    data = {"audience": "participants", "subject": "Sali vaihtui", "text": "Olemme salissa 2."}
    client.post(reverse("courses:course-message", args=[course.pk]), data)
    assert rows_of_last_read() == len(enrolled)


def test_who_saw_a_customer_finds_the_lists_that_showed_them(
    client, staff_member, register_manager
):
    seen, other = CustomerFactory(last_name="Nähty"), CustomerFactory(last_name="Muu")
    client.force_login(staff_member)
    client.get(reverse("registry:customer-list"), {"q": "Nähty"})
    read = last_read()
    assert read in AuditEvent.objects.for_customer(seen)
    assert read not in AuditEvent.objects.for_customer(other)
    client.force_login(register_manager)
    trail = client.get(reverse("registry:audit-trail"), {"customer": seen.pk})
    assert read in trail.context["events"]
    trail = client.get(reverse("registry:audit-trail"), {"customer": other.pk})
    assert read not in trail.context["events"]
    page = client.get(seen.get_absolute_url())
    assert read in page.context["audit_events"]
    # The access report's processing section reads for_customer: the list is
    # there, by the role of the one who looked.
    report = access_report(seen)
    assert read.actor_role
    assert {
        "at": read.at.isoformat(timespec="seconds"),
        "role": read.actor_role,
        "action": "customer_searched",
    } in report["processing"]


def test_an_erasure_removes_the_links_and_keeps_the_event(client, staff_member, register_manager):
    gone, stays = CustomerFactory(last_name="Pois"), CustomerFactory(last_name="Poisto")
    client.force_login(staff_member)
    client.get(reverse("registry:customer-list"), {"q": "Pois"})
    read = last_read()
    assert linked(read) == {gone.pk, stays.pk}
    customers_erase(customers=[gone], by=register_manager)
    assert linked(read) == {stays.pk}
    assert AuditEvent.objects.filter(pk=read.pk).exists()
    assert not AuditEventCustomer.objects.filter(customer_id=gone.pk).exists()


def test_the_lists_of_a_merged_record_are_found_under_the_kept_one(
    client, staff_member, register_manager
):
    keep, remove = CustomerFactory(last_name="Pidettävä"), CustomerFactory(last_name="Poistuva")
    client.force_login(staff_member)
    client.get(reverse("registry:customer-list"), {"q": "Poistuva"})
    read = last_read()
    customer_merge(keep=keep, remove=remove, values={}, by=register_manager)
    assert read in AuditEvent.objects.for_customer(keep)
    # The link still names the removed id: the merge event leads to it.
    assert linked(read) == {remove.pk}
    client.force_login(register_manager)
    trail = client.get(reverse("registry:audit-trail"), {"customer": keep.pk})
    assert read in trail.context["events"]
    # Erasing the kept record takes the links of the merged one too.
    customers_erase(customers=[keep], by=register_manager)
    assert linked(read) == set()


def test_the_links_are_append_only(client, staff_member):
    CustomerFactory()
    client.force_login(staff_member)
    client.get(reverse("registry:customer-list"))
    link = AuditEventCustomer.objects.get()
    with pytest.raises(AppendOnlyError):
        AuditEventCustomer.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        link.delete()
    with pytest.raises(AppendOnlyError):
        AuditEventCustomer.objects.update(customer_id=1)


@pytest.mark.django_db(transaction=True)
def test_a_list_read_and_its_links_are_written_together(staff_member, monkeypatch):
    """Also from a view that is not atomic (the enrolment's "call these"):
    when the links cannot be written, the event is not kept without them."""

    def fail(event, customer_ids):
        raise RuntimeError("the links' INSERT failed")

    monkeypatch.setattr(services, "link_shown_customers", fail)
    customer = CustomerFactory()
    with pytest.raises(RuntimeError):
        services.customers_listed(ids=[customer.pk], via="to_call", by=staff_member, request=None)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_SEARCHED).exists()
