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

from courses.attendance import attendance_save
from courses.models import Attendance
from registry.audit.models import AuditEvent
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


# --- No attendance recorded while restricted ------------------------------------


def roll_call_url(course):
    session = course.sessions.order_by("starts_at").first()
    return session, reverse("courses:roll-call", args=[course.pk, session.pk])


def test_the_roll_call_offers_no_choice_on_their_row(client, instructor):
    course = running_course(instructor=instructor)
    (held,), (free,) = people(course)
    held_place, free_place = held.enrollments.get(), free.enrollments.get()
    _session, url = roll_call_url(course)
    client.force_login(instructor)
    page = client.get(url).content.decode()
    rows = {
        place: page.split(f'id="row-{place.pk}"')[1].split("</li>")[0]
        for place in (held_place, free_place)
    }
    assert 'type="radio"' not in rows[held_place]
    assert "restricted-participant" in rows[held_place]
    assert "Läsnäoloa ei merkitä, kun käsittely on rajoitettu." in rows[held_place]
    assert rows[free_place].count('type="radio"') == 3


def test_the_grid_says_their_attendance_is_not_recorded(client, staff_member):
    course = running_course()
    (held,), _free = people(course)
    client.force_login(staff_member)
    page = client.get(reverse("courses:attendance-grid", args=[course.pk])).content.decode()
    row = page.split(held.full_name)[1].split("</tr>")[0]
    assert "restricted-participant" in row and "läsnäoloa ei merkitä" in row
    assert page.count("grid-restricted") == 1


def test_a_post_marking_them_records_the_others_and_not_them(client, instructor):
    """A post made by hand, or from a list shown before the restriction: the
    others' marks are saved (nothing typed is lost), theirs is not, and the
    user is told whose."""
    course = running_course(instructor=instructor)
    (held,), (free,) = people(course)
    long_ago = timezone.now() - timedelta(days=400)
    Customer.objects.filter(pk__in=[held.pk, free.pk]).update(last_activity_at=long_ago)
    held_place, free_place = held.enrollments.get(), free.enrollments.get()
    session, url = roll_call_url(course)
    client.force_login(instructor)
    for data in (
        {f"mark-{held_place.pk}": "came", f"mark-{free_place.pk}": "came"},
        {
            f"mark-{held_place.pk}": "came",
            f"mark-{free_place.pk}": "came",
            "shown": [f"{held_place.pk}:", f"{free_place.pk}:"],
        },
    ):
        response = client.post(url, data, follow=True)
        assert response.status_code == 200
        texts = [str(m) for m in response.context["messages"]]
        assert any(
            held.full_name in t and "rajoitettu" in t and "Muut merkinnät tallennettiin" in t
            for t in texts
        ), texts
    assert list(session.attendances.values_list("enrollment", "status")) == [
        (free_place.pk, "came")
    ]
    [event] = AuditEvent.objects.filter(action="attendance_marked")
    assert list(event.detail["changes"]) == [str(free_place.pk)]
    held.refresh_from_db()
    free.refresh_from_db()
    assert held.last_activity_at == long_ago and free.last_activity_at > long_ago


def test_the_service_leaves_them_out_and_saves_the_others(instructor):
    course = running_course(instructor=instructor)
    (held,), (free,) = people(course)
    held_place, free_place = held.enrollments.get(), free.enrollments.get()
    session = course.sessions.order_by("starts_at").first()
    saved = attendance_save(
        session=session, marks={held_place.pk: "excused", free_place.pk: "came"}, by=instructor
    )
    assert saved.restricted == [held]
    assert list(saved.changes) == [str(free_place.pk)]
    assert list(session.attendances.values_list("enrollment", flat=True)) == [free_place.pk]


def test_a_mark_made_before_the_restriction_stays_and_counts_no_activity(client, instructor):
    course = running_course(instructor=instructor)
    (held,), _free = people(course, others=0)
    place = held.enrollments.get()
    session, url = roll_call_url(course)
    Customer.objects.filter(pk=held.pk).update(restricted_since=None)
    attendance_save(session=session, marks={place.pk: "came"}, by=instructor)
    restrict(held)
    client.force_login(instructor)
    page = client.get(url).content.decode()
    assert "Merkitty: Läsnä." in page
    # The same mark again (an old list) changes nothing and is no refusal.
    assert attendance_save(session=session, marks={place.pk: "came"}, by=instructor).changes == {}
    saved = attendance_save(session=session, marks={place.pk: "absent"}, by=instructor)
    assert saved.restricted == [held] and saved.changes == {}
    assert session.attendances.get().status == "came"


def test_a_restriction_in_the_moment_of_the_save_refreshes_no_activity(monkeypatch, instructor):
    """The marks were read before the restriction committed: the mark may
    land, but the customer's retention is not started again."""
    course = running_course(instructor=instructor)
    _held, (free,) = people(course, restricted=0)
    place = free.enrollments.get()
    session = course.sessions.order_by("starts_at").first()
    long_ago = timezone.now() - timedelta(days=400)
    Customer.objects.filter(pk=free.pk).update(last_activity_at=long_ago)
    bulk_create = Attendance.objects.bulk_create

    def restricted_meanwhile(rows, *args, **kwargs):
        restrict(free)
        return bulk_create(rows, *args, **kwargs)

    monkeypatch.setattr(Attendance.objects, "bulk_create", restricted_meanwhile)
    attendance_save(session=session, marks={place.pk: "came"}, by=instructor)
    free.refresh_from_db()
    assert free.last_activity_at == long_ago


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
