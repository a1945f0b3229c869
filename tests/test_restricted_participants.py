"""A participant whose processing is restricted (GDPR art. 18) keeps a place
taken before the restriction: the course's lists show the name, marked, and
neither the lists nor the participant export give their email or phone."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from registry.models import Customer

from .factories import CourseFactory, CustomerFactory, EnrollmentFactory

pytestmark = pytest.mark.django_db

BADGE = "Käsittelyä rajoitettu"
WEEK = timedelta(days=7)


def restrict(*customers):
    Customer.objects.filter(pk__in=[c.pk for c in customers]).update(
        restricted_since=timezone.now()
    )


def running_course(**kwargs):
    """A weekly course whose first session was a week ago (a roll call to open)."""
    start = timezone.now().replace(microsecond=0) - WEEK
    sessions = [(start + n * WEEK, start + n * WEEK + timedelta(hours=1)) for n in range(3)]
    return CourseFactory(sessions=sessions, **kwargs)


def people(course, restricted=1, others=1, waiting=0):
    """Participants of `course`, each of a last name of their own:
    `restricted` of them restricted (the last `waiting` of those on the
    waiting list), then `others`."""
    kept = [
        EnrollmentFactory(
            course=course,
            customer=CustomerFactory(last_name=f"Rajoitettu{n}"),
            status="waitlisted" if n >= restricted - waiting else "enrolled",
        ).customer
        for n in range(restricted)
    ]
    free = [
        EnrollmentFactory(course=course, customer=CustomerFactory(last_name=f"Vapaa{n}")).customer
        for n in range(others)
    ]
    restrict(*kept)
    return kept, free


def contact_texts(customer):
    phone = str(customer.phone)  # +35840...
    return [customer.email, phone, f"040 {phone[6:]}"]


def test_the_course_page_marks_them_and_shows_no_contact_details(client, staff_member):
    course = CourseFactory(capacity=2)
    (held, waiting), (free,) = people(course, restricted=2, waiting=1)
    # The enrolled restricted customer holds the first place; the waiting one
    # is on the waiting list; `free` has the second place.
    client.force_login(staff_member)
    page = client.get(course.get_absolute_url()).content.decode()
    assert held.full_name in page and waiting.full_name in page
    assert page.count(BADGE) >= 3  # two rows and the note
    assert 'id="restricted-note"' in page
    for restricted in (held, waiting):
        for text in contact_texts(restricted):
            assert text not in page
    assert free.email in page


def test_the_search_on_the_course_page_shows_no_contact_details_of_them(client, staff_member):
    course = CourseFactory()
    (held,), _free = people(course, restricted=1, others=0)
    client.force_login(staff_member)
    page = client.get(course.get_absolute_url(), {"q": held.last_name}).content.decode()
    found = page.split('id="enrol-heading"')[1]
    assert held.full_name in found and "restricted-participant" in found
    for text in contact_texts(held):
        assert text not in page


def test_a_list_without_them_has_no_note(client, staff_member):
    course = CourseFactory()
    people(course, restricted=0, others=2)
    client.force_login(staff_member)
    page = client.get(course.get_absolute_url()).content.decode()
    assert 'id="restricted-note"' not in page and "restricted-participant" not in page


def export_rows(client, course, file_format):
    response = client.post(
        reverse("courses:participant-export", args=[course.pk]),
        {
            "columns": ["last_name", "status", "email", "phone"],
            "file_format": file_format,
            "purpose": "lista ohjaajalle",
            "waitlist": "on",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    content = b"".join(response.streaming_content)
    if file_format == "xlsx":
        sheet = load_workbook(io.BytesIO(content)).active
        return [[cell.value or "" for cell in row] for row in sheet.iter_rows()][1:]
    text = content.decode().lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text), delimiter=";"))[1:]


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_the_export_leaves_their_contact_details_out(client, staff_member, file_format):
    course = CourseFactory(capacity=2)
    (held, waiting), (free,) = people(course, restricted=2, waiting=1)
    client.force_login(staff_member)
    rows = {row[0]: row[1:] for row in export_rows(client, course, file_format)}
    assert rows[held.last_name] == ["Enrolled (processing restricted)", "", ""]
    assert rows[waiting.last_name] == ["On the waiting list (processing restricted)", "", ""]
    assert rows[free.last_name] == ["Enrolled", free.email, f"040 {str(free.phone)[6:]}"]


def test_the_roll_call_and_the_attendance_grid_mark_them(client, staff_member):
    course = running_course()
    (held,), (free,) = people(course)
    session = course.sessions.order_by("starts_at").first()
    client.force_login(staff_member)
    for url in (
        reverse("courses:roll-call", args=[course.pk, session.pk]),
        reverse("courses:attendance-grid", args=[course.pk]),
    ):
        page = client.get(url).content.decode()
        assert held.full_name in page and free.full_name in page
        assert page.count("restricted-participant") == 1, url
        assert 'id="restricted-note"' in page
        for text in contact_texts(held):
            assert text not in page


def page_queries(client, course):
    session = course.sessions.order_by("starts_at").first()
    counts = []
    for url in (
        course.get_absolute_url(),
        reverse("courses:attendance-grid", args=[course.pk]),
        reverse("courses:roll-call", args=[course.pk, session.pk]),
    ):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    return counts


def test_marking_them_asks_no_query_per_row(client, staff_member):
    client.force_login(staff_member)
    client.get("/")
    few = running_course(capacity=40)
    people(few, restricted=1, others=1)
    many = running_course(capacity=40)
    people(many, restricted=12, others=12, waiting=4)
    assert page_queries(client, many) == page_queries(client, few)


# --- The course page's enrol search ----------------------------------------------


def test_the_enrol_search_shows_them_marked_without_contacts_or_button(client, staff_member):
    course = CourseFactory()
    held = CustomerFactory(first_name="Riina", last_name="Hakuinen")
    free = CustomerFactory(first_name="Vapaa", last_name="Hakuinen")
    restrict(held)
    client.force_login(staff_member)
    page = client.get(course.get_absolute_url(), {"q": "hakuinen"}).content.decode()
    found = page.split('id="enrol-heading"')[1]
    held_row = found.split(held.full_name)[1].split("</li>")[0]
    assert "restricted-participant" in held_row and "enrol-restricted" in held_row
    assert 'name="customer"' not in held_row and "<button" not in held_row
    for text in contact_texts(held):
        assert text not in page
    assert f'value="{free.pk}"' in found and free.email in found
    assert f'value="{held.pk}"' not in found


def test_the_enrol_search_asks_no_query_per_restricted_customer(client, staff_member):
    client.force_login(staff_member)
    client.get("/")
    course = CourseFactory(capacity=40)
    counts = []
    for name, restricted in (("Harva", 1), ("Moni", 8)):
        found = CustomerFactory.create_batch(10, last_name=name)
        EnrollmentFactory(course=course, customer=CustomerFactory(last_name=name))
        restrict(*found[:restricted])
        with CaptureQueriesContext(connection) as queries:
            page = client.get(course.get_absolute_url(), {"q": name}).content.decode()
        assert page.count("enrol-restricted") == restricted
        counts.append(len(queries))
    assert counts[0] == counts[1]
