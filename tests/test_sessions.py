"""Courses as series of sessions: the series form, moving and cancelling one
session, the roll call, the grid, and the migration of single-session data
(issue 18)."""

import csv
import datetime
import importlib
import io
import threading
import time
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from courses.attendance import attendance_grid_page, attendance_save, session_to_mark
from courses.forms import SeriesForm
from courses.models import Attendance, Course, Enrollment, Session
from courses.services import EnrollmentError, enrollment_cancel, session_cancel, session_update
from registry.audit.models import AuditEvent
from registry.forms import VersionField
from registry.models import Customer
from registry.once import SUBMISSION_SECONDS
from registry.rights.documents import access_document
from registry.rights.erasure import customer_erase
from registry.rights.selectors import access_report
from registry.services import customer_merge

from .factories import CourseFactory, CustomerFactory, EnrollmentFactory, UserFactory

pytestmark = pytest.mark.django_db

WEEK = timedelta(days=7)


def weekly(start, count, hours=1):
    return [(start + n * WEEK, start + n * WEEK + timedelta(hours=hours)) for n in range(count)]


def shown(**changes):
    """The series signature the first step puts on the page."""
    form = SeriesForm(series_post(**changes))
    return form.signature


def series_post(**changes):
    data = {
        "title": "Hathajooga",
        "location": "Sali 1",
        "capacity": "12",
        "first_day": "2027-01-12",
        "weekday": "0",
        "start_time": "18:00",
        "end_time": "19:30",
        "count": "10",
        "every": "1",
    }
    data.update(changes)
    if "shown_series" in changes:
        # The second step: the page's token (course_create_view refuses a
        # confirmation without one).
        data.setdefault("submission", SeriesForm.new_token())
    return data


# --- Creating a series -------------------------------------------------------


def test_a_ten_week_course_with_a_holiday_is_made_in_one_form(client, staff_member):
    client.force_login(staff_member)
    url = reverse("courses:course-create")
    first = client.post(url, series_post())
    assert first.status_code == 200 and not Course.objects.exists()
    dates = [value for value, _label in first.context["form"].fields["dates"].choices]
    # Mondays from the first Monday on or after 12 January 2027 (a Tuesday).
    assert dates[0] == "2027-01-18" and dates[-1] == "2027-03-22" and len(dates) == 10
    body = first.content.decode()
    assert "18.1.2027" in body and 'name="dates"' in body
    # Untick one Monday (a holiday) and save.
    holiday = "2027-02-15"
    data = series_post(
        shown_series=shown(),
        dates=[d for d in dates if d != holiday],
        submission=first.context["form"].data["submission"],
    )
    second = client.post(url, data)
    course = Course.objects.get()
    assert second.url == course.get_absolute_url()
    sessions = list(course.sessions.all())
    assert len(sessions) == 9
    assert holiday not in {timezone.localdate(s.starts_at).isoformat() for s in sessions}
    first_start = timezone.localtime(sessions[0].starts_at)
    assert (first_start.hour, first_start.minute) == (18, 0)
    assert (course.starts_at, course.ends_at) == (sessions[0].starts_at, sessions[-1].ends_at)
    assert AuditEvent.objects.filter(action="course_created").count() == 1


def test_a_series_sent_twice_makes_one_course(client, staff_member):
    """A double click or the browser's "send again" on the second step."""
    client.force_login(staff_member)
    url = reverse("courses:course-create")
    step = client.post(url, series_post())
    data = step.context["form"].data
    assert len(data["submission"]) >= 32
    first = client.post(url, data)
    again = client.post(url, data)
    course = Course.objects.get()
    assert first.url == again.url == course.get_absolute_url()
    assert [str(m) for m in get_messages(again.wsgi_request)][-1] == (
        "Kurssi oli jo lisätty: lomake lähetettiin kahdesti."
    )
    # Another page of the same series is another course.
    other = client.post(url, series_post())
    assert client.post(url, other.context["form"].data).status_code == 302
    assert Course.objects.count() == 2


def test_a_confirmation_without_the_pages_token_saves_nothing(client, staff_member, monkeypatch):
    """Probe: a confirmation made by hand without the token was saved every
    time it was sent; review: any made-up token was taken. A confirmation
    without a token the server gave within the day now shows the page again,
    the ticks as sent, with a token; saving that page makes the one course."""
    client.force_login(staff_member)
    url = reverse("courses:course-create")
    days = [
        v for v, _label in client.post(url, series_post()).context["form"].fields["dates"].choices
    ]
    crafted = series_post(shown_series=shown(), dates=days[:3])
    del crafted["submission"]
    given = SeriesForm.new_token()
    with monkeypatch.context() as past:
        yesterday = time.time() - SUBMISSION_SECONDS - 60
        past.setattr(signing.time, "time", lambda: yesterday)
        expired = SeriesForm.new_token()
    changed = given[:-1] + ("B" if given.endswith("A") else "A")  # never the same
    made_up = (None, "", "x", "a" * 128, changed, given + "x", expired)
    for submission in made_up:
        data = crafted if submission is None else {**crafted, "submission": submission}
        again = client.post(url, data)
        assert again.status_code == 200 and not Course.objects.exists()
        assert "Tarkista kurssikerrat ja tallenna uudelleen." in again.content.decode()
        form = again.context["form"]
        assert len(form.data["submission"]) >= 32
        assert form.data.getlist("dates") == days[:3]
    page = {name: form.data.getlist(name) for name in form.data}
    assert client.post(url, page).status_code == 302
    assert client.post(url, page).status_code == 302
    assert Course.objects.get().sessions.count() == 3


def test_a_day_sent_twice_is_one_session(client, staff_member):
    client.force_login(staff_member)
    url = reverse("courses:course-create")
    data = client.post(url, series_post()).context["form"].data.copy()
    days = data.getlist("dates")
    data["dates"] = [*days, days[0], days[0]]  # a list value: the client sends each
    assert client.post(url, data).status_code == 302
    course = Course.objects.get()
    assert course.sessions.count() == len(days)
    assert len({s.starts_at for s in course.sessions.all()}) == len(days)


def test_the_confirm_page_sent_again_with_an_edit_makes_a_second_course(client, staff_member):
    """Back from the course to the confirm page, edit the title, save again:
    that is another course, not a double click. Only the same data twice is
    refused."""
    client.force_login(staff_member)
    url = reverse("courses:course-create")
    data = client.post(url, series_post()).context["form"].data.copy()
    client.post(url, data)
    first = Course.objects.get()
    data["title"] = "Yin-jooga"
    edited = client.post(url, data)
    second = Course.objects.exclude(pk=first.pk).get()
    assert (first.title, second.title) == ("Hathajooga", "Yin-jooga")
    assert edited.url == second.get_absolute_url()
    # The edited page sent twice is still one course more, not two.
    assert client.post(url, data).url == second.get_absolute_url()
    # So is a page whose ticks were changed: another set of sessions.
    data["dates"] = data.getlist("dates")[:3]
    client.post(url, data)
    assert Course.objects.count() == 3
    assert Course.objects.latest("id").sessions.count() == 3


def test_every_other_week_and_a_one_evening_course(client, staff_member):
    client.force_login(staff_member)
    url = reverse("courses:course-create")
    dates = client.post(url, series_post(every="2", count="3")).context["form"]
    assert [v for v, _l in dates.fields["dates"].choices] == [
        "2027-01-18",
        "2027-02-01",
        "2027-02-15",
    ]
    client.post(url, series_post(count="1", shown_series=shown(count="1"), dates=["2027-01-18"]))
    assert Course.objects.get().sessions.count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_day", "0001-01-01"),
        ("first_day", "9999-12-31"),
        ("first_day", "2027-02-30"),
        ("count", "0"),
        ("count", "100000"),
        ("count", "-3"),
        ("weekday", "9"),
        ("every", "3"),
        ("end_time", "17:00"),
        ("start_time", "25:00"),
        ("title", "x" * 5000),
    ],
)
def test_absurd_series_values_give_a_field_error(client, staff_member, field, value):
    client.force_login(staff_member)
    response = client.post(reverse("courses:course-create"), series_post(**{field: value}))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Course.objects.exists()


def test_a_series_changed_after_its_dates_were_shown_shows_them_again(client, staff_member):
    """Ticks of ten Mondays are not saved as a series of twelve Tuesdays."""
    client.force_login(staff_member)
    url = reverse("courses:course-create")
    data = series_post(weekday="1", count="12", shown_series=shown(), dates=["2027-01-18"])
    response = client.post(url, data)
    assert response.status_code == 200 and not Course.objects.exists()
    form = response.context["form"]
    assert form.dates_shown and len(form["dates"].value()) == 12
    assert form["dates"].value()[0] == "2027-01-12"  # a Tuesday
    assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["warning"]
    # Saved as shown now.
    client.post(
        url,
        series_post(
            weekday="1",
            count="12",
            shown_series=form["shown_series"].value(),
            dates=form["dates"].value(),
        ),
    )
    assert Course.objects.get().sessions.count() == 12


def test_saving_without_a_ticked_date_is_refused(client, staff_member):
    client.force_login(staff_member)
    response = client.post(reverse("courses:course-create"), series_post(shown_series=shown()))
    assert "dates" in response.context["form"].errors
    # A date that is not of the series is refused too (a hand-made post).
    response = client.post(
        reverse("courses:course-create"), series_post(shown_series=shown(), dates=["2027-01-19"])
    )
    assert "dates" in response.context["form"].errors
    assert not Course.objects.exists()


# --- One session at a time ------------------------------------------------------


def test_moving_and_cancelling_a_session_never_touches_enrolments(client, staff_member):
    start = timezone.now().replace(microsecond=0) + WEEK
    course = CourseFactory(sessions=weekly(start, 3))
    enrolled = EnrollmentFactory.create_batch(3, course=course)
    _first, second, last = course.sessions.all()
    client.force_login(staff_member)

    url = reverse("courses:session-update", args=[course.pk, second.pk])
    moved_to = timezone.localtime(second.starts_at + timedelta(days=1))
    response = client.post(
        url,
        {
            "starts_at": moved_to.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (moved_to + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "location": "Sali 2",
            "version": VersionField.token(second),
        },
    )
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.location == "Sali 2" and second.moved_from == start + WEEK
    url = reverse("courses:session-cancel", args=[course.pk, last.pk])
    assert client.post(url, {"reason": ""}).status_code == 200  # a reason is needed
    client.post(url, {"reason": "Ohjaaja sairastui"})
    last.refresh_from_db()
    assert last.is_cancelled and last.cancelled_reason == "Ohjaaja sairastui"
    course.refresh_from_db()
    # The course ends with its last session that is held.
    assert course.ends_at == second.ends_at
    assert sorted(course.enrollments.values_list("status", flat=True)) == ["enrolled"] * 3
    assert {e.pk for e in enrolled} == set(course.enrollments.values_list("pk", flat=True))
    events = AuditEvent.objects.filter(action="course_changed", target_id=str(course.pk))
    assert [e.detail["session"] for e in events.order_by("id")] == ["moved", "cancelled"]

    body = client.get(course.get_absolute_url()).content.decode()
    assert "<del>" in body and "Ohjaaja sairastui" in body and "Siirretty" in body


def test_a_session_with_absurd_times_gives_a_field_error(client, staff_member):
    course = CourseFactory()
    session = course.sessions.get()
    client.force_login(staff_member)
    url = reverse("courses:session-update", args=[course.pk, session.pk])
    for starts in ("0001-01-01T10:00", "9999-12-31T23:00", "2027-13-01T10:00", "x" * 500):
        response = client.post(
            url,
            {
                "starts_at": starts,
                "ends_at": "2027-01-01T12:00",
                "version": VersionField.token(session),
            },
        )
        assert response.status_code == 200
        assert "starts_at" in response.context["form"].errors, starts
    response = client.post(
        url,
        {
            "starts_at": "2027-01-01T12:00",
            "ends_at": "2027-01-01T11:00",
            "version": VersionField.token(session),
        },
    )
    assert "ends_at" in response.context["form"].errors
    response = client.post(
        reverse("courses:session-create", args=[course.pk]),
        {"starts_at": "0001-01-01T10:00", "ends_at": "0001-01-01T12:00"},
    )
    assert "starts_at" in response.context["form"].errors
    assert course.sessions.count() == 1


def test_two_people_moving_one_session(client, staff_member, register_manager):
    """The second save from an older form is refused and shows what changed."""
    course = CourseFactory()
    session = course.sessions.get()
    session_update(
        session=session,
        data={"location": "Sali 3"},
        by=register_manager,
        version=session.version,
    )
    client.force_login(staff_member)
    response = client.post(
        reverse("courses:session-update", args=[course.pk, session.pk]),
        {
            "starts_at": timezone.localtime(session.starts_at).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": timezone.localtime(session.ends_at).strftime("%Y-%m-%dT%H:%M"),
            "location": "Sali 2",
            "version": VersionField.token(session),  # the version before the other save
        },
    )
    assert response.status_code == 200 and response.context["form"].conflict
    session.refresh_from_db()
    assert session.location == "Sali 3"


def test_a_session_added_later_extends_the_course(client, staff_member):
    course = CourseFactory()
    later = timezone.localtime(course.ends_at + 2 * WEEK)
    client.force_login(staff_member)
    client.post(
        reverse("courses:session-create", args=[course.pk]),
        {
            "starts_at": later.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (later + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    course.refresh_from_db()
    assert course.sessions.count() == 2
    assert course.ends_at == later.replace(second=0) + timedelta(hours=1)


# --- The roll call ------------------------------------------------------------------


@pytest.fixture
def running_course(instructor):
    start = timezone.now().replace(microsecond=0) - 2 * WEEK - timedelta(minutes=5)
    return CourseFactory(instructor=instructor, sessions=weekly(start, 4))


def test_the_course_page_opens_todays_roll_call(client, instructor, running_course):
    today = running_course.sessions.all()[2]
    assert session_to_mark(running_course) == today
    client.force_login(instructor)
    response = client.get(running_course.get_absolute_url())
    assert reverse("courses:roll-call", args=[running_course.pk, today.pk]) in (
        response.content.decode()
    )


def test_a_session_not_started_cannot_be_marked_and_a_past_one_is_corrected(
    instructor, running_course
):
    enrollment = EnrollmentFactory(course=running_course)
    first, _second, _today, coming = running_course.sessions.all()
    with pytest.raises(EnrollmentError):
        attendance_save(session=coming, marks={enrollment.pk: "came"}, by=instructor)
    attendance_save(session=first, marks={enrollment.pk: "absent"}, by=instructor)
    attendance_save(session=first, marks={enrollment.pk: "excused"}, by=instructor)
    assert first.attendances.get().status == "excused"
    corrections = AuditEvent.objects.filter(action="attendance_marked").order_by("id")
    assert [e.detail["changes"] for e in corrections] == [
        {str(enrollment.pk): ["", "absent"]},
        {str(enrollment.pk): ["absent", "excused"]},
    ]
    assert all(e.detail["correction"] for e in corrections)
    session_cancel(session=coming, reason="Pyhäpäivä", by=instructor)
    with pytest.raises(EnrollmentError):
        attendance_save(session=coming, marks={enrollment.pk: "came"}, by=instructor)


def test_coming_counts_as_activity_for_retention(instructor, running_course):
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(
        last_activity_at=timezone.now() - timedelta(days=400)
    )
    enrollment = EnrollmentFactory(course=running_course, customer=customer)
    first = running_course.sessions.first()
    attendance_save(session=first, marks={enrollment.pk: "came"}, by=instructor)
    customer.refresh_from_db()
    assert customer.last_activity_at == first.starts_at


def test_the_roll_call_order_never_changes_on_save(client, instructor, running_course):
    for last in ("Öhman", "Aalto", "Mäki"):
        EnrollmentFactory(course=running_course, customer=CustomerFactory(last_name=last))
    session = running_course.sessions.first()
    url = reverse("courses:roll-call", args=[running_course.pk, session.pk])
    client.force_login(instructor)

    def order():
        return [e.customer.last_name for e, _s, _n in client.get(url).context["form"].rows]

    before = order()
    assert before[0] == "Aalto"
    rows = client.get(url).context["form"].rows
    client.post(url, {f"mark-{rows[-1][0].pk}": "came", f"mark-{rows[0][0].pk}": "absent"})
    assert order() == before


def test_a_roll_call_cannot_reach_another_courses_session(client, staff_member, running_course):
    other = CourseFactory(starts_at=timezone.now() - timedelta(hours=1))
    stranger = EnrollmentFactory(course=other)
    mine = EnrollmentFactory(course=running_course)
    client.force_login(staff_member)
    session = running_course.sessions.first()
    url = reverse("courses:roll-call", args=[running_course.pk, session.pk])
    response = client.post(url, {f"mark-{stranger.pk}": "came", f"mark-{mine.pk}": "came"})
    assert {m.level_tag for m in get_messages(response.wsgi_request)} == {"success"}
    assert list(Attendance.objects.values_list("enrollment_id", flat=True)) == [mine.pk]
    assert (
        client.get(
            reverse("courses:roll-call", args=[running_course.pk, other.sessions.get().pk])
        ).status_code
        == 404
    )


def populated_course(sessions, participants):
    start = timezone.now().replace(microsecond=0) - (sessions - 2) * WEEK
    course = CourseFactory(capacity=max(participants, 1), sessions=weekly(start, sessions))
    enrollments = EnrollmentFactory.create_batch(participants, course=course)
    held = list(course.sessions.all())
    Attendance.objects.bulk_create(
        Attendance(session=s, enrollment=e, status="came" if (i + j) % 3 else "absent")
        for i, s in enumerate(held[:-1])
        for j, e in enumerate(enrollments)
    )
    return course


def page_queries(client, course):
    """How many queries the course page, the grid and a roll call each take."""
    session = course.sessions.filter(starts_at__lte=timezone.now()).last()
    urls = [
        course.get_absolute_url(),
        reverse("courses:attendance-grid", args=[course.pk]),
        reverse("courses:roll-call", args=[course.pk, session.pk]),
    ]
    counts = []
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    return counts


def test_the_grid_and_roll_call_take_a_constant_number_of_queries(
    client, staff_member, django_assert_max_num_queries
):
    """12 sessions x 20 participants take as many queries as 2 x 1."""
    client.force_login(staff_member)
    client.get("/")
    small = page_queries(client, populated_course(2, 1))
    course = populated_course(12, 20)
    assert page_queries(client, course) == small
    assert max(small) <= 25, small
    with django_assert_max_num_queries(25):
        grid = client.get(reverse("courses:attendance-grid", args=[course.pk]))
    _sessions, _page, rows, totals = attendance_grid_page(course)
    assert len(rows) == 20 and len(totals) == 12
    assert rows[0][2:] == (sum(1 for m in rows[0][1] if m == "came"), 11)
    assert "/11" in grid.content.decode()


def test_a_lecture_is_called_and_shown_a_page_at_a_time(client, instructor, monkeypatch):
    """A lecture of thousands would make both pages grow with it: they show
    ATTENDANCE_PER_PAGE rows a page (3 here), numbered on, the grid's totals
    count everybody, and a save marks the rows its page showed even if the
    pages shifted meanwhile, then returns to that page."""
    monkeypatch.setattr("courses.attendance.ATTENDANCE_PER_PAGE", 3)
    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    course = CourseFactory(instructor=instructor, capacity=20, sessions=weekly(start, 2))
    for last in ("Aalto", "Berg", "Heino", "Kivi", "Laine", "Mäki", "Niemi"):
        EnrollmentFactory(course=course, customer=CustomerFactory(last_name=last))
    session = course.sessions.first()
    url = reverse("courses:roll-call", args=[course.pk, session.pk])
    client.force_login(instructor)
    second = client.get(url, {"page": 2})
    rows = second.context["form"].rows
    assert [e.customer.last_name for e, _s, _n in rows] == ["Kivi", "Laine", "Mäki"]
    assert f'for="{rows[0][2]}-came" class="d-block roll-call-name">4. ' in (
        second.content.decode()
    )
    # Someone enrolled meanwhile sorts first: page 2 now starts with Heino.
    EnrollmentFactory(course=course, customer=CustomerFactory(last_name="Aaltonen"))
    saved = client.post(
        f"{url}?page=2",
        {
            "shown": [f"{e.pk}:" for e, _s, _n in rows],
            **{f"mark-{e.pk}": "came" for e, _s, _n in rows},
        },
    )
    assert saved.url == f"{url}?page=2"
    marked = Attendance.objects.values_list("enrollment__customer__last_name", flat=True)
    assert sorted(marked) == ["Kivi", "Laine", "Mäki"]
    grid_url = reverse("courses:attendance-grid", args=[course.pk])
    grid = client.get(grid_url, {"page": 3})
    assert [row[0].customer.last_name for row in grid.context["rows"]] == ["Mäki", "Niemi"]
    assert [total for _session, total in grid.context["columns"]] == [3, 0]
    for value in ("0", "-1", "abc", "9" * 40, ""):
        assert client.get(url, {"page": value}).status_code == 200
        assert client.get(grid_url, {"page": value}).status_code == 200
    # A NUL anywhere in a request is refused before any view (a 400, not a 500).
    assert client.get(url, {"page": "\x00"}).status_code == 400


def test_viewing_a_page_of_the_roll_call_or_grid_records_which_page(
    client, instructor, register_manager, monkeypatch
):
    """The audit trail says which rows were seen: the page the paginator
    showed (a page out of range shows, and records, the last or the first)."""
    monkeypatch.setattr("courses.attendance.ATTENDANCE_PER_PAGE", 3)
    start = timezone.now() - timedelta(hours=1)
    course = CourseFactory(instructor=instructor, capacity=20, sessions=weekly(start, 2))
    EnrollmentFactory.create_batch(7, course=course)
    session = course.sessions.first()
    roll_call_url = reverse("courses:roll-call", args=[course.pk, session.pk])
    grid_url = reverse("courses:attendance-grid", args=[course.pk])
    client.force_login(instructor)
    client.get(roll_call_url, {"page": 2})
    client.get(roll_call_url, {"page": 99})
    client.get(grid_url, {"page": 3})
    client.get(grid_url, {"page": "abc"})
    client.get(grid_url)
    events = AuditEvent.objects.filter(action="participant_list_viewed").order_by("id")
    assert [event.detail for event in events] == [
        {"session_id": session.pk, "page": 2, "rows": 3},
        {"session_id": session.pk, "page": 3, "rows": 1},
        {"view": "attendance_grid", "page": 3, "rows": 1},
        {"view": "attendance_grid", "page": 1, "rows": 3},
        {"view": "attendance_grid", "page": 1, "rows": 3},
    ]
    client.force_login(register_manager)
    trail = client.get(reverse("registry:audit-trail"), {"action": "participant_list_viewed"})
    assert "sivu 2" in trail.content.decode()


def test_someone_who_left_mid_series_stays_in_the_grid_with_their_marks(instructor, staff_member):
    start = timezone.now() - 2 * WEEK
    course = CourseFactory(sessions=weekly(start, 3))
    stays, leaves = EnrollmentFactory.create_batch(2, course=course)
    first = course.sessions.first()
    attendance_save(session=first, marks={stays.pk: "came", leaves.pk: "came"}, by=instructor)
    enrollment_cancel(enrollment=leaves, by=staff_member)
    EnrollmentFactory(course=course, status="cancelled")  # never marked: not in the grid
    _sessions, _page, rows, totals = attendance_grid_page(course)
    assert {row[0].pk for row in rows} == {stays.pk, leaves.pk}
    assert totals[0] == 2


def test_the_export_has_a_column_per_session_and_the_total(client, staff_member, instructor):
    start = timezone.make_aware(datetime.datetime(2026, 10, 5, 18, 0))
    course = CourseFactory(title="Syysjooga", sessions=weekly(start, 3))
    aino = EnrollmentFactory(course=course, customer=CustomerFactory(first_name="Aino"))
    EnrollmentFactory(
        course=course, customer=CustomerFactory(first_name="Bertta"), status="waitlisted"
    )
    first, second, third = course.sessions.all()
    attendance_save(session=first, marks={aino.pk: "came"}, by=instructor)
    attendance_save(session=second, marks={aino.pk: "excused"}, by=instructor)
    # Cancelled back when it was still to come (the course is over now).
    Session.objects.filter(pk=third.pk).update(is_cancelled=True, cancelled_reason="Pyhä")
    client.force_login(staff_member)
    response = client.post(
        reverse("courses:participant-export", args=[course.pk]),
        {
            "columns": ["first_name"],
            "attendance": "on",
            "waitlist": "on",
            "file_format": "csv",
            "purpose": "kurssin tilastot",
        },
    )
    content = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(content.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == [
        "etunimi",
        "5.10.2026",
        "12.10.2026",
        "19.10.2026 (peruttu)",
        "Läsnä (kertaa)",
    ]
    assert rows[1] == ["Aino", "Läsnä", "Ilmoitettu poissaolo", "", "1/2"]
    assert rows[2] == ["Bertta", "", "", "", ""]
    event = AuditEvent.objects.get(action="participant_list_exported")
    assert event.detail["attendance"] is True


# --- Erasure, merge, migration ---------------------------------------------------------


def test_erasure_keeps_the_attendance_without_the_person(instructor, register_manager):
    start = timezone.now() - WEEK
    course = CourseFactory(sessions=weekly(start, 1))
    enrollment = EnrollmentFactory(course=course)
    session = course.sessions.get()
    attendance_save(session=session, marks={enrollment.pk: "came"}, by=instructor)
    customer_erase(customer=enrollment.customer, by=register_manager)
    mark = Attendance.objects.get()
    assert mark.enrollment.customer is None and mark.status == "came"
    assert attendance_grid_page(course)[3] == [1]


def test_a_merge_keeps_the_attendance_of_both_records(instructor, register_manager):
    start = timezone.now() - 2 * WEEK
    course = CourseFactory(sessions=weekly(start, 2))
    first, second = course.sessions.all()
    keep, remove = CustomerFactory(), CustomerFactory()
    kept = EnrollmentFactory(course=course, customer=keep)
    duplicate = EnrollmentFactory(course=course, customer=remove)
    attendance_save(session=first, marks={kept.pk: "absent", duplicate.pk: "came"}, by=instructor)
    attendance_save(session=second, marks={duplicate.pk: "excused"}, by=instructor)
    customer_merge(keep=keep, remove=remove, values={}, by=register_manager)
    marks = dict(Attendance.objects.values_list("session_id", "status"))
    assert marks == {first.pk: "came", second.pk: "excused"}
    assert set(Attendance.objects.values_list("enrollment_id", flat=True)) == {kept.pk}


def test_the_migration_gives_each_course_one_session_and_keeps_attended():
    migration = importlib.import_module("courses.migrations.0002_sessions")
    start = timezone.now() - timedelta(days=30)
    old = Course.objects.create(
        title="Vanha", starts_at=start, ends_at=start + timedelta(hours=2), capacity=10
    )
    came = EnrollmentFactory(course=old, status="attended")
    stayed = EnrollmentFactory(course=old, status="enrolled")
    waiting = EnrollmentFactory(course=old, status="waitlisted")
    already = CourseFactory()  # has its session: left as it is
    migration.one_session_per_course(apps, None)
    migration.one_session_per_course(apps, None)  # twice changes nothing more
    session = Session.objects.get(course=old)
    assert (session.starts_at, session.ends_at) == (old.starts_at, old.ends_at)
    assert already.sessions.count() == 1
    assert list(Attendance.objects.values_list("enrollment_id", "session_id", "status")) == [
        (came.pk, session.pk, "came")
    ]
    statuses = dict(Enrollment.objects.values_list("pk", "status"))
    assert statuses[came.pk] == statuses[stayed.pk] == "enrolled"
    assert statuses[waiting.pk] == "waitlisted"
    migration.back_to_attended(apps, None)
    assert Enrollment.objects.get(pk=came.pk).status == "attended"
    assert Enrollment.objects.get(pk=stayed.pk).status == "enrolled"


def test_the_series_days_skip_nothing_over_a_change_of_daylight_saving():
    """Sessions keep their local time over the change in March."""
    form = SeriesForm(
        series_post(
            first_day="2027-03-15",
            count="3",
            shown_series=shown(first_day="2027-03-15", count="3"),
            dates=["2027-03-15", "2027-03-22", "2027-03-29"],
        )
    )
    assert form.is_valid(), form.errors
    starts = [timezone.localtime(start) for start, _end in form.sessions()]
    assert [(s.date(), s.hour) for s in starts] == [
        (datetime.date(2027, 3, 15), 18),
        (datetime.date(2027, 3, 22), 18),
        (datetime.date(2027, 3, 29), 18),
    ]


def test_the_access_report_lists_the_attendance(instructor):
    start = timezone.now() - WEEK
    course = CourseFactory(sessions=weekly(start, 2))
    enrollment = EnrollmentFactory(course=course)
    first = course.sessions.first()
    attendance_save(session=first, marks={enrollment.pk: "excused"}, by=instructor)
    report = access_report(enrollment.customer)
    assert report["enrollments"][0]["attendance"] == [
        {"session": first.starts_at.isoformat(timespec="minutes"), "status": "excused"}
    ]
    courses = next(s for s in access_document(report, "fi").sections if s.title == "Kurssit")
    assert courses.rows[0][-1] == "Ilmoitettu poissaolo 1"


@pytest.mark.django_db(transaction=True)
def test_two_people_marking_one_session_at_the_same_moment_keep_both_marks():
    """The instructor and the office save the same roll call at once, each
    from a list opened before the other's save: no unique-constraint error,
    no lost mark (the course row is locked for the save)."""
    if connection.vendor != "postgresql":
        pytest.skip("Row locks are proven on PostgreSQL (CI runs this file on it).")
    start = timezone.now() - timedelta(minutes=30)
    course = CourseFactory(sessions=weekly(start, 1))
    session = course.sessions.get()
    people = EnrollmentFactory.create_batch(6, course=course)
    shown = {e.pk: "" for e in people}
    users = [UserFactory(), UserFactory()]
    halves = [people[:3], people[3:]]
    barrier = threading.Barrier(2)
    errors = []

    def worker(user, mine):
        try:
            barrier.wait()
            # Both also "mark" the first person the same way: one insert wins.
            marks = {e.pk: "came" for e in mine} | {people[0].pk: "came"}
            attendance_save(session=session, marks=marks, shown=shown, by=user)
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=worker, args=(user, mine))
        for user, mine in zip(users, halves, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert session.attendances.filter(status="came").count() == 6


HOSTILE = ["\x00", "x" * 100_000, "-1", "1e309", "0001-01-01", "[]", "é" * 300, "2027-01-01T25:61"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_in_the_session_forms_never_answer_5xx(client, staff_member, value):
    start = timezone.now() - timedelta(minutes=30)
    course = CourseFactory(sessions=weekly(start, 2))
    enrollment = EnrollmentFactory(course=course)
    session = course.sessions.first()
    client.force_login(staff_member)
    posts = {
        reverse("courses:course-create"): list(
            series_post(shown_series=shown(), dates=["2027-01-18"])
        ),
        reverse("courses:session-create", args=[course.pk]): ["starts_at", "ends_at", "location"],
        reverse("courses:session-update", args=[course.pk, session.pk]): [
            "starts_at",
            "ends_at",
            "location",
            "version",
        ],
        reverse("courses:session-cancel", args=[course.pk, session.pk]): ["reason"],
        reverse("courses:roll-call", args=[course.pk, session.pk]): [
            f"mark-{enrollment.pk}",
            "shown",
        ],
    }
    for url, fields in posts.items():
        for field in fields:
            data = dict.fromkeys(fields, value)
            data[field] = [value, value]
            for payload in ({field: value}, data):
                response = client.post(url, payload)
                assert response.status_code < 500, (url, field)
    assert Course.objects.count() == 1
    assert course.sessions.count() == 2
    assert not Attendance.objects.exists()


def test_the_dashboard_opens_todays_roll_call_and_shows_the_next_session(client, instructor):
    now = timezone.now().replace(microsecond=0)
    today = timezone.localtime(now).replace(hour=0, minute=1) + timedelta(minutes=1)
    course = CourseFactory(
        title="Iltajooga",
        instructor=instructor,
        sessions=[
            (today - WEEK, today - WEEK + timedelta(hours=1)),
            (today, today + timedelta(minutes=1)),
        ],
    )
    CourseFactory(title="Muiden kurssi")  # not the instructor's
    client.force_login(instructor)
    body = client.get("/").content.decode()
    todays = course.sessions.last()
    assert reverse("courses:roll-call", args=[course.pk, todays.pk]) in body
    assert "Tämän päivän kerrat" in body and "Muiden kurssi" not in body


# --- Third probe: the archive, held sessions, the spring clock change ----------------


def test_an_archived_courses_sessions_cannot_be_added_moved_or_cancelled(client, staff_member):
    """Third probe (F2): a course that is over got sessions moved, cancelled
    and added (a future one brought it back out of the archive)."""
    start = timezone.now() - timedelta(days=30)
    course = CourseFactory(sessions=weekly(start, 2))
    first, second = course.sessions.all()
    client.force_login(staff_member)
    page = client.get(course.get_absolute_url()).content.decode()
    later = (timezone.localtime() + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M")
    even_later = (timezone.localtime() + timedelta(days=60, hours=1)).strftime("%Y-%m-%dT%H:%M")
    client.post(
        reverse("courses:session-create", args=[course.pk]),
        {"starts_at": later, "ends_at": even_later, "location": ""},
    )
    client.post(
        reverse("courses:session-update", args=[course.pk, first.pk]),
        {
            "starts_at": later,
            "ends_at": even_later,
            "location": "Sali 9",
            "version": VersionField.token(first),
        },
    )
    client.post(
        reverse("courses:session-cancel", args=[course.pk, second.pk]), {"reason": "arkisto"}
    )
    course.refresh_from_db()
    assert course.sessions.count() == 2 and course.is_past
    assert not course.sessions.filter(is_cancelled=True).exists()
    assert not course.sessions.filter(location="Sali 9").exists()
    # Nor are they offered on the archived course's page.
    assert reverse("courses:session-create", args=[course.pk]) not in page
    assert reverse("courses:session-update", args=[course.pk, first.pk]) not in page
    assert reverse("courses:session-cancel", args=[course.pk, second.pk]) not in page


def test_a_held_session_keeps_its_time_and_cannot_be_cancelled(client, staff_member, instructor):
    """Third probe (F3): marks stayed on a held session moved to the future,
    or cancelled, and the grid and the customer page then disagreed."""
    start = timezone.now() - timedelta(days=7)
    course = CourseFactory(sessions=weekly(start, 3), instructor=instructor)
    enrollment = EnrollmentFactory(course=course)
    held = course.sessions.first()
    attendance_save(session=held, marks={enrollment.pk: "came"}, by=instructor)
    future = timezone.now() + timedelta(days=30)

    with pytest.raises(ValidationError, match="ei voi siirtää"):
        session_update(
            session=held,
            data={"starts_at": future, "ends_at": future + timedelta(hours=1)},
            by=staff_member,
            version=held.version,
        )
    with pytest.raises(ValidationError, match="eikä sitä voi perua"):
        session_cancel(session=held, reason="x", by=staff_member)
    # Moving it within the past (a wrong time corrected) is fine.
    earlier = held.starts_at - timedelta(hours=1)
    session_update(
        session=held,
        data={"starts_at": earlier, "ends_at": earlier + timedelta(hours=1)},
        by=staff_member,
        version=held.version,
    )
    client.force_login(staff_member)
    response = client.post(
        reverse("courses:session-cancel", args=[course.pk, held.pk]), {"reason": "x"}, follow=True
    )
    assert "eikä sitä voi perua" in response.content.decode()


def test_a_series_session_the_clocks_skip_is_refused_on_the_page(client, staff_member):
    """Third probe (F7): 03:30 on the Sunday the clocks go forward does not
    exist; the series answered 500."""
    client.force_login(staff_member)
    url = reverse("courses:course-create")
    data = series_post(
        first_day="2027-03-21", weekday="6", start_time="03:30", end_time="04:15", count="2"
    )
    response = client.post(
        url,
        {
            **data,
            "shown_series": shown(**data),
            "dates": ["2027-03-21", "2027-03-28"],
            "submission": SeriesForm.new_token(),
        },
    )
    assert response.status_code == 200 and not Course.objects.exists()
    assert response.context["form"].non_field_errors()


def test_a_mark_someone_else_changed_meanwhile_is_kept_and_named(
    client, instructor, staff_member, running_course
):
    """Third probe (F5): the instructor and the office opened one roll call;
    each changed the same row; the later save replaced the other's silently."""
    enrollment = EnrollmentFactory(
        course=running_course, customer=CustomerFactory(last_name="Berg")
    )
    session = running_course.sessions.first()
    attendance_save(session=session, marks={enrollment.pk: "came"}, by=instructor)
    url = reverse("courses:roll-call", args=[running_course.pk, session.pk])
    # Both lists showed "came"; the instructor saves "absent" first.
    attendance_save(
        session=session,
        marks={enrollment.pk: "absent"},
        shown={enrollment.pk: "came"},
        by=instructor,
    )
    client.force_login(staff_member)
    response = client.post(
        url, {f"mark-{enrollment.pk}": "excused", "shown": f"{enrollment.pk}:came"}, follow=True
    )

    assert Attendance.objects.get(enrollment=enrollment).status == "absent"
    said = {m.level_tag: str(m) for m in get_messages(response.wsgi_request)}
    assert said["success"] == "Osallistuminen tallennettu (0 muutosta)."
    assert said["warning"].startswith("Joku muu merkitsi") and "Berg" in said["warning"]


@pytest.mark.parametrize(
    ("field", "value"), [("capacity", "0"), ("capacity", "2147483647"), ("ends_at", "year")]
)
def test_implausible_places_and_session_lengths_are_refused_beside_the_field(
    client, staff_member, field, value
):
    """Third probe (F11): capacity 0 or 2,147,483,647, a session a year long."""
    course = CourseFactory(sessions=weekly(timezone.now() + WEEK, 2))
    client.force_login(staff_member)
    if field == "capacity":
        url = reverse("courses:course-update", args=[course.pk])
        data = {
            "title": course.title,
            "location": "",
            "capacity": value,
            "version": VersionField.token(course),
        }
    else:
        url = reverse("courses:session-create", args=[course.pk])
        start = timezone.localtime() + 3 * WEEK
        data = {
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M"),
            "location": "",
        }
    response = client.post(url, data)
    assert response.status_code == 200 and field in response.context["form"].errors
