"""Found by the fifth probe (of the restriction of processing, the once
tokens, the list reads' links, prune_logs and the notice's processors).
Each test failed before its fix (docs/security.md, "Found by the fifth
probe")."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from courses.models import Enrollment, Message
from courses.participants import participant_list_export
from registry.audit.models import AuditEvent
from registry.imports.services import import_apply, import_undo
from registry.models import Customer
from registry.rights.restriction import customer_restrict
from registry.services import customer_merge

from .factories import (
    CourseFactory,
    CustomerFactory,
    DataSubjectRequestFactory,
    EnrollmentFactory,
)
from .test_imports import HEADER, csv_bytes, person, upload
from .test_sent_twice import token_of
from .test_settings import load_settings

pytestmark = pytest.mark.django_db


def restricted(**kwargs):
    customer = CustomerFactory(**kwargs)
    Customer.objects.filter(pk=customer.pk).update(restricted_since=timezone.now())
    customer.refresh_from_db()
    return customer


def test_a_merge_does_not_promote_a_restricted_person_from_the_waiting_list(
    register_manager, immediate_tasks
):
    """The restricted record waited on a course with a free place (passed
    over); the kept record had cancelled its own enrolment. The merge kept the
    waiting one and gave the free place to the kept record, still unrestricted
    in the database while the merge's handlers ran: the person (restricted)
    was enrolled and written a message."""
    course = CourseFactory(capacity=2)
    EnrollmentFactory(course=course, status=Enrollment.Status.ENROLLED)
    remove = restricted(first_name="Rajoitettu")
    waiting = EnrollmentFactory(
        course=course, customer=remove, status=Enrollment.Status.WAITLISTED
    )
    keep = CustomerFactory(first_name="Pidetty")
    EnrollmentFactory(course=course, customer=keep, status=Enrollment.Status.CANCELLED)
    assert waiting.status == Enrollment.Status.WAITLISTED

    merged = customer_merge(keep=keep, remove=remove, values={}, by=register_manager)

    assert merged.restricted_since is not None
    assert course.enrollments.get(customer=merged).status == Enrollment.Status.WAITLISTED
    assert not AuditEvent.objects.filter(action="waitlist_promoted").exists()
    assert not Message.objects.filter(customer=merged).exists()


@pytest.mark.parametrize(
    ("name", "via", "restrict_first"),
    [
        ("registry:customer-restrict", "restrict", False),
        ("registry:customer-restriction-lift", "restriction_lift", True),
    ],
)
def test_the_restriction_pages_are_reads(client, register_manager, name, via, restrict_first):
    """The pages name the customer (their heading): a read, as the erasure
    page is."""
    customer = restricted() if restrict_first else CustomerFactory()
    client.force_login(register_manager)
    response = client.get(reverse(name, args=[customer.pk]))
    assert response.status_code == 200 and customer.full_name in response.content.decode()
    assert response.headers["Cache-Control"].count("no-store") == 1
    viewed = AuditEvent.objects.filter(action="customer_viewed", actor=register_manager)
    assert [(e.target_id, e.detail.get("via")) for e in viewed] == [(str(customer.pk), via)]


def seen_by(customer, user):
    """The events of `user` that the customer's trail (and access report)
    finds: who saw customer X."""
    return list(AuditEvent.objects.for_customer(customer).filter(actor=user))


def test_the_course_pages_cancelled_are_linked_to_its_read(client, staff_member):
    """The course page lists its cancelled participants by name (to enrol
    them again): the page's read did not name them."""
    course = CourseFactory()
    gone = EnrollmentFactory(course=course, status=Enrollment.Status.CANCELLED).customer
    client.force_login(staff_member)
    page = client.get(course.get_absolute_url()).content.decode()
    assert gone.full_name in page
    assert [e.action for e in seen_by(gone, staff_member)] == ["participant_list_viewed"]


def test_the_course_pages_cancelled_are_not_linked_where_not_shown(client, instructor):
    """The instructor may not enrol, and the page does not list the
    cancelled to them: no link for what was not shown."""
    course = CourseFactory(instructor=instructor)
    gone = EnrollmentFactory(course=course, status=Enrollment.Status.CANCELLED).customer
    client.force_login(instructor)
    page = client.get(course.get_absolute_url()).content.decode()
    assert gone.full_name not in page
    assert seen_by(gone, instructor) == []


def test_a_participant_export_is_linked_to_whom_it_held(client, staff_member):
    """The export of a participant list (names, addresses, phones) named
    nobody: the customer's trail and access report did not find it."""
    course = CourseFactory(capacity=1)
    taking = EnrollmentFactory(course=course).customer
    waiting = EnrollmentFactory(course=course, status=Enrollment.Status.WAITLISTED).customer
    left_out = EnrollmentFactory(course=course, status=Enrollment.Status.CANCELLED).customer
    client.force_login(staff_member)
    response = client.post(
        reverse("courses:participant-export", args=[course.pk]),
        {
            "columns": ["first_name", "last_name", "email"],
            "waitlist": "on",
            "file_format": "csv",
            "purpose": "Nimilista salille",
        },
    )
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert response.status_code == 200 and taking.email in body
    for customer in (taking, waiting):
        assert [e.action for e in seen_by(customer, staff_member)] == ["participant_list_exported"]
    assert seen_by(left_out, staff_member) == []
    # Without the waiting list, the waiting one is not in the file nor linked.
    rows, _count = participant_list_export(
        course=course,
        columns=["email"],
        purpose="Ilman jonoa",
        file_format="csv",
        by=staff_member,
        waitlist=False,
    )
    assert rows == [[taking.email]]
    assert len(seen_by(taking, staff_member)) == 2 and len(seen_by(waiting, staff_member)) == 1


def test_the_request_list_and_a_request_are_reads(client, register_manager):
    """The request list and a request's page name the customer (and that they
    made a data subject request): neither was a read."""
    case = DataSubjectRequestFactory()
    other = DataSubjectRequestFactory()
    client.force_login(register_manager)
    page = client.get(reverse("registry:request-list")).content.decode()
    assert case.customer.full_name in page and other.customer.full_name in page
    assert [e.action for e in seen_by(case.customer, register_manager)] == ["customer_searched"]
    page = client.get(case.get_absolute_url()).content.decode()
    assert case.customer.full_name in page
    assert sorted(e.action for e in seen_by(case.customer, register_manager)) == [
        "customer_searched",
        "customer_viewed",
    ]
    assert len(seen_by(other.customer, register_manager)) == 1


def test_whom_to_call_is_a_read_of_them(client, staff_member):
    """After an event, "call these" shows the names and phone numbers of
    those its messages could not reach by email (all of a cancelled course's
    participants without an address, not only those on a page shown): the
    warning was no read of them."""
    course = CourseFactory(capacity=1)
    enrolled = EnrollmentFactory(course=course)
    phoned = CustomerFactory(first_name="Kalle", last_name="Puhelin", email="")
    EnrollmentFactory(course=course, status="waitlisted", customer=phoned)
    client.force_login(staff_member)
    response = client.post(
        reverse("courses:enrollment-cancel", args=[course.pk, enrolled.pk]), follow=True
    )
    texts = [str(m) for m in response.context["messages"]]
    assert any("Kalle Puhelin" in t and "soita" in t for t in texts), texts
    reads = [e for e in seen_by(phoned, staff_member) if e.action == "customer_searched"]
    assert [e.detail["via"] for e in reads] == ["to_call"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # 0 or less: the cutoff is now or later, and the nightly retention run
        # erased every customer without an open request or a coming course.
        ("RETENTION_MONTHS", "0"),
        ("RETENTION_MONTHS", "-36"),
        # Before year 1: prune_logs, the retention run and the health page
        # stopped with "year -474 is out of range".
        ("RETENTION_MONTHS", "30000"),
        ("AUDIT_KEEP_MONTHS", "30000"),
    ],
)
def test_a_period_in_months_out_of_the_calendar_is_refused_at_the_start(name, value):
    result = load_settings(SECRET_KEY="x" * 50, **{name: value})
    assert result.returncode != 0
    assert f"{name} must be at least 1 and at most 1200" in result.stderr


def test_the_longest_periods_still_work(settings, client, register_manager):
    settings.RETENTION_MONTHS = settings.AUDIT_KEEP_MONTHS = 1200
    call_command("prune_logs", verbosity=0)
    call_command("retention", "--dry-run", verbosity=0)
    client.force_login(register_manager)
    assert client.get(reverse("registry:report-health")).status_code == 200


def test_the_undos_kept_customers_on_an_import_page_are_a_read(
    client, staff_member, register_manager
):
    """A handled import's page names the customers its undo kept (any
    number of them): no read named them."""
    rows = [person(first=name, email=f"{name}@example.invalid") for name in ("Tuotu", "Pidetty")]
    rows[1][3] = "040 222 3344"
    done = import_apply(customer_import=upload(rows, staff_member), by=staff_member)
    kept = Customer.objects.get(imported_in=done, first_name="Pidetty")
    customer_restrict(customer=kept, by=register_manager)
    import_undo(customer_import=done, by=register_manager)
    client.force_login(staff_member)
    page = client.get(reverse("registry:import-detail", args=[done.pk])).content.decode()
    assert kept.full_name in page
    reads = [
        e.detail.get("via") for e in seen_by(kept, staff_member) if e.action == "customer_searched"
    ]
    assert reads == ["import_undo"]


def test_the_audit_trail_page_is_a_read_of_the_customers_it_names(
    client, register_manager, staff_member
):
    """The trail names each event's customer (50 a page, any customer by
    its number in the filter): the page was no read of them."""
    named, other = CustomerFactory(), CustomerFactory()
    client.force_login(staff_member)
    client.get(named.get_absolute_url())
    client.force_login(register_manager)
    page = client.get(reverse("registry:audit-trail"), {"customer": named.pk}).content.decode()
    assert named.full_name in page and other.full_name not in page
    reads = [
        e.detail.get("via")
        for e in seen_by(named, register_manager)
        if e.action == "customer_searched"
    ]
    assert reads == ["audit_trail"]
    assert seen_by(other, register_manager) == []


def test_the_possible_duplicates_on_the_customer_forms_are_a_read(client, staff_member):
    """The new customer form (and the edit form) lists up to ten records that
    look like the one typed, with their emails and cities, and saves
    nothing: typing an address into it was a search no one could see."""
    existing = CustomerFactory(email="etsitty@example.invalid", city="Kuopio")
    client.force_login(staff_member)
    url = reverse("registry:customer-create")
    data = {
        "first_name": "Kuka",
        "last_name": "Lienee",
        "email": existing.email,
        "country": "FI",
        "source": "enrolment_or_purchase",
        "submission": token_of(client.get(url)),
    }
    page = client.post(url, data).content.decode()
    assert existing.full_name in page and not Customer.objects.filter(last_name="Lienee")
    reads = [
        e.detail.get("via")
        for e in seen_by(existing, staff_member)
        if e.action == "customer_searched"
    ]
    assert reads == ["duplicates"]
    # The edit form of another record: the same list, the same read.
    other = CustomerFactory()
    edit = reverse("registry:customer-update", args=[other.pk])
    form = client.get(edit).context["form"]
    posted = {
        **{k: v for k, v in form.initial.items() if v is not None},
        "email": existing.email,
        "country": "FI",
    }
    page = client.post(edit, posted).content.decode()
    assert existing.full_name in page
    reads = [
        e.detail.get("via")
        for e in seen_by(existing, staff_member)
        if e.action == "customer_searched"
    ]
    assert reads == ["duplicates", "duplicates"]


def test_an_import_previews_matches_are_a_read(client, staff_member, immediate_tasks):
    """The preview of an import links each row that matches a record ("left
    as it is (same email): open the record"): a file of addresses told which
    are customers, and their numbers, with no read of them."""
    existing = CustomerFactory(email="tunnettu@example.invalid")
    CustomerFactory()  # not in the file
    client.force_login(staff_member)
    rows = [
        HEADER,
        person(email=existing.email),
        person(first="Uusi", email="uusi@example.invalid"),
    ]
    response = client.post(
        reverse("registry:import-upload"),
        {"file": SimpleUploadedFile("asiakkaat.csv", csv_bytes(rows))},
    )
    page = client.get(response.url)
    assert page.context["preview"]["counts"]["match"] == 1
    assert reverse("registry:customer-detail", args=[existing.pk]) in page.content.decode()
    reads = [
        e.detail.get("via")
        for e in seen_by(existing, staff_member)
        if e.action == "customer_searched"
    ]
    assert reads == ["import_preview"]
