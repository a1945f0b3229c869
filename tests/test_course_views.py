"""Course pages: who may see what, participant lists and their exports."""

import csv
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

import courses.views
from courses.models import Attendance, Enrollment
from courses.templatetags.courses_tags import ENROLLABLE_COURSES
from registry.audit.models import AuditEvent
from registry.forms import VersionField
from registry.services import customer_merge

from .factories import CourseFactory, CustomerFactory, EnrollmentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_course(instructor):
    return CourseFactory(title="Aamujooga", instructor=instructor, capacity=12)


@pytest.fixture
def other_course():
    other = UserFactory(username="toinen-ohjaaja", roles=["Ohjaaja"])
    return CourseFactory(title="Iltajooga", instructor=other)


def urls(course):
    return {
        "list": reverse("courses:course-list"),
        "detail": reverse("courses:course-detail", args=[course.pk]),
        "create": reverse("courses:course-create"),
        "update": reverse("courses:course-update", args=[course.pk]),
        "export": reverse("courses:participant-export", args=[course.pk]),
    }


def test_anonymous_visitors_are_sent_to_login(client, own_course):
    for url in urls(own_course).values():
        assert client.get(url).url.startswith(reverse("login"))


def test_users_without_a_role_get_403(client, own_course, no_role_user):
    client.force_login(no_role_user)
    for url in urls(own_course).values():
        assert client.get(url).status_code == 403, url


def test_staff_may_use_every_course_page(client, own_course, staff_member):
    client.force_login(staff_member)
    for url in urls(own_course).values():
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"]


def test_an_instructor_sees_only_their_own_courses(client, own_course, other_course, instructor):
    client.force_login(instructor)
    response = client.get(reverse("courses:course-list"))
    assert list(response.context["courses"]) == [own_course]
    assert client.get(urls(own_course)["detail"]).status_code == 200
    assert client.get(urls(other_course)["detail"]).status_code == 404
    post_urls = [
        reverse("courses:roll-call", args=[other_course.pk, other_course.sessions.get().pk]),
        reverse("courses:enrollment-create", args=[other_course.pk]),
    ]
    assert client.post(post_urls[0], {}).status_code == 404
    # Instructors do not edit courses, enrol people or export lists.
    for name in ("create", "update", "export"):
        assert client.get(urls(own_course)[name]).status_code == 403, name
    assert client.post(post_urls[1], {}).status_code == 403


def test_instructors_see_names_and_status_but_contacts_only_when_granted(
    client, own_course, instructor
):
    EnrollmentFactory(course=own_course, customer=CustomerFactory(email="nakyva@example.invalid"))
    client.force_login(instructor)
    response = client.get(urls(own_course)["detail"])
    assert not response.context["show_contacts"]
    assert "nakyva@example.invalid" not in response.content.decode()
    instructor.user_permissions.add(Permission.objects.get(codename="view_participant_contacts"))
    client.force_login(instructor)
    assert "nakyva@example.invalid" in client.get(urls(own_course)["detail"]).content.decode()


def test_viewing_a_participant_list_is_audited(client, own_course, instructor):
    EnrollmentFactory.create_batch(2, course=own_course)
    client.force_login(instructor)
    client.get(urls(own_course)["detail"])
    event = AuditEvent.objects.get(action=AuditEvent.Action.PARTICIPANT_LIST_VIEWED)
    assert (event.actor, event.target_id) == (instructor, str(own_course.pk))
    # The enrolled are shown a page at a time: the trail says which page, and
    # how many customers it showed.
    assert event.detail == {"page": 1, "rows": 2}


def test_enrol_from_the_participant_list_tells_the_waiting_list_position(client, staff_member):
    course = CourseFactory(capacity=1)
    EnrollmentFactory(course=course)
    caller = CustomerFactory(first_name="Aino", last_name="Soittaja", phone="+358401234567")
    client.force_login(staff_member)
    found = client.get(reverse("courses:course-detail", args=[course.pk]), {"q": "040 123 4567"})
    assert found.context["candidates"] == [caller]
    response = client.post(
        reverse("courses:enrollment-create", args=[course.pk]),
        {"customer": caller.pk, "source": "phone"},
        follow=True,
    )
    assert "numero 1 jonossa" in response.content.decode()
    assert Enrollment.objects.get(customer=caller).status == "waitlisted"


def test_cancel_in_the_list_promotes_and_says_so(client, staff_member):
    course = CourseFactory(capacity=1)
    taken = EnrollmentFactory(course=course)
    waiting = EnrollmentFactory(course=course, status="waitlisted")
    client.force_login(staff_member)
    response = client.post(
        reverse("courses:enrollment-cancel", args=[course.pk, taken.pk]), follow=True
    )
    waiting.refresh_from_db()
    assert waiting.status == "enrolled"
    assert waiting.customer.full_name in response.content.decode()


def test_lowering_the_capacity_below_enrolled_shows_the_error_beside_the_field(
    client, staff_member
):
    course = CourseFactory(capacity=3)
    EnrollmentFactory.create_batch(2, course=course)
    client.force_login(staff_member)
    data = {
        "title": course.title,
        "starts_at": course.starts_at.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": course.ends_at.strftime("%Y-%m-%dT%H:%M"),
        "location": course.location,
        "capacity": 1,
        "version": VersionField.token(course),
    }
    response = client.post(reverse("courses:course-update", args=[course.pk]), data)
    assert response.status_code == 200
    assert "capacity" in response.context["form"].errors
    course.refresh_from_db()
    assert course.capacity == 3


def test_participant_list_queries_are_the_same_for_3_and_30(client, staff_member):
    client.force_login(staff_member)
    counts = []
    for rows in (3, 30):
        course = CourseFactory(capacity=40)
        EnrollmentFactory.create_batch(rows, course=course)
        with CaptureQueriesContext(connection) as queries:
            client.get(reverse("courses:course-detail", args=[course.pk]))
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def export(client, course, **data):
    return client.post(reverse("courses:participant-export", args=[course.pk]), data)


def test_csv_export_has_the_chosen_columns_is_safe_and_audited(client, staff_member):
    course = CourseFactory(title="Kevätjooga")
    EnrollmentFactory(course=course, customer=CustomerFactory(first_name="=1+1", last_name="Aho"))
    client.force_login(staff_member)
    response = export(
        client,
        course,
        columns=["first_name", "last_name", "status"],
        file_format="csv",
        purpose="lista ohjaajalle",
    )
    assert response["Content-Disposition"].startswith(
        'attachment; filename="osallistujat-kevatjooga-'
    )
    content = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(content.lstrip("\ufeff")), delimiter=";"))
    assert rows == [["etunimi", "sukunimi", "tila"], ["'=1+1", "Aho", "Ilmoittautunut"]]
    event = AuditEvent.objects.get(action=AuditEvent.Action.PARTICIPANT_LIST_EXPORTED)
    assert event.detail == {
        "course": "Kevätjooga",
        "columns": ["first_name", "last_name", "status"],
        "rows": 1,
        "purpose": "lista ohjaajalle",
        "format": "csv",
        "attendance": False,
        "waitlist": False,
    }


@pytest.mark.parametrize("with_waitlist", [True, False])
def test_the_export_puts_the_waiting_list_last_or_leaves_it_out(
    client, staff_member, with_waitlist
):
    course = CourseFactory(capacity=1)
    EnrollmentFactory(
        course=course, status="waitlisted", customer=CustomerFactory(last_name="Aalto")
    )
    EnrollmentFactory(course=course, customer=CustomerFactory(last_name="Öhman"))
    client.force_login(staff_member)
    data = {"columns": ["last_name", "status"], "file_format": "csv", "purpose": "lista"}
    response = export(client, course, **data, **({"waitlist": "on"} if with_waitlist else {}))
    content = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(content.lstrip("\ufeff")), delimiter=";"))[1:]
    expected = [["Öhman", "Ilmoittautunut"]]
    assert rows == ([*expected, ["Aalto", "Jonossa"]] if with_waitlist else expected)


def test_xlsx_export_writes_formulas_as_text(client, staff_member):
    course = CourseFactory()
    EnrollmentFactory(
        course=course, customer=CustomerFactory(first_name="=1+1", phone="+358401234567")
    )
    client.force_login(staff_member)
    response = export(
        client, course, columns=["first_name", "phone"], file_format="xlsx", purpose="ohjaaja"
    )
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values == [["etunimi", "puhelin"], ["'=1+1", "040 1234567"]]
    assert sheet["A2"].data_type == "s"


def test_export_needs_a_purpose_and_allowed_columns(client, staff_member, instructor, own_course):
    client.force_login(staff_member)
    response = export(client, own_course, columns=["first_name"], file_format="csv", purpose=" ")
    assert "purpose" in response.context["form"].errors
    # Someone allowed to export without contact rights cannot ask for the phone column.
    exporter = UserFactory(username="viejä")
    exporter.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["export_participant_list", "view_course", "view_all_courses"]
        )
    )
    client.force_login(exporter)
    response = export(client, own_course, columns=["phone"], file_format="csv", purpose="x")
    assert "columns" in response.context["form"].errors
    assert not AuditEvent.objects.filter(action="participant_list_exported").exists()


def test_the_customer_page_lists_the_courses_with_attendance(client, staff_member):
    start = timezone.now() - timezone.timedelta(days=21)
    week = timezone.timedelta(days=7)
    course = CourseFactory(
        title="Pilates",
        sessions=[
            (start + n * week, start + n * week + timezone.timedelta(hours=1)) for n in range(3)
        ],
    )
    enrollment = EnrollmentFactory(course=course)
    first, second, _third = course.sessions.all()
    Attendance.objects.create(session=first, enrollment=enrollment, status="came")
    Attendance.objects.create(session=second, enrollment=enrollment, status="absent")
    client.force_login(staff_member)
    body = client.get(enrollment.customer.get_absolute_url()).content.decode()
    assert "Pilates" in body and "1/3 kertaa" in body


def test_the_dashboard_shows_upcoming_courses_with_places_taken(client, staff_member):
    course = CourseFactory(title="Lauantaijooga", capacity=12)
    EnrollmentFactory.create_batch(11, course=course)
    client.force_login(staff_member)
    body = client.get("/").content.decode()
    assert "Lauantaijooga" in body and "11/12" in body


def test_the_search_on_a_course_shows_ten_who_are_not_on_it_yet(client, staff_member):
    course = CourseFactory(capacity=20)
    on_course = CustomerFactory.create_batch(5, last_name="Aaltonen")
    for customer in on_course:
        EnrollmentFactory(course=course, customer=customer)
    others = CustomerFactory.create_batch(12, last_name="Aaltonen")
    client.force_login(staff_member)
    found = client.get(reverse("courses:course-detail", args=[course.pk]), {"q": "aaltonen"})
    candidates = found.context["candidates"]
    assert len(candidates) == 10 and set(candidates) <= set(others)


def test_the_enrolment_search_takes_any_text(client, staff_member):
    """A novel in the search box is no search, not a failure; a NUL character
    (PostgreSQL refuses it in a query) is a crafted request, answered 400 by
    RefuseNulMiddleware before any query."""
    course = CourseFactory()
    CustomerFactory(last_name="Hakuinen")
    client.force_login(staff_member)
    response = client.get(course.get_absolute_url(), {"q": "a" * 10_000})
    assert response.status_code == 200 and response.context["candidates"] == []
    for query in ("\x00", "Haku\x00inen"):
        assert client.get(course.get_absolute_url(), {"q": query}).status_code == 400
    found = client.get(course.get_absolute_url(), {"q": " Hakuinen "})
    assert [c.last_name for c in found.context["candidates"]] == ["Hakuinen"]


def test_the_roll_call_takes_only_its_own_values(client, staff_member):
    course = CourseFactory(starts_at=timezone.now() - timezone.timedelta(hours=1))
    enrollment = EnrollmentFactory(course=course)
    session = course.sessions.get()
    client.force_login(staff_member)
    url = reverse("courses:roll-call", args=[course.pk, session.pk])
    mark = f"mark-{enrollment.pk}"
    for hostile in ("²", "abc", "9" * 30, "-1", "attended"):
        response = client.post(url, {mark: hostile})
        assert response.status_code == 302
        assert {m.level_tag for m in get_messages(response.wsgi_request)} == {"error"}
        response = client.post(url, {mark: "came", "shown": [f"{hostile}:"]})
        assert response.status_code == 302
        assert {m.level_tag for m in get_messages(response.wsgi_request)} == {"error"}
    assert not session.attendances.exists()
    client.post(url, {mark: "came", "shown": [f"{enrollment.pk}:"]})
    assert session.attendances.get().status == "came"


def test_enrolling_a_customer_merged_away_meanwhile_says_so(client, staff_member, monkeypatch):
    """Between the page and the click, the record was merged into another."""
    course, shown, kept = CourseFactory(), CustomerFactory(), CustomerFactory()
    service = courses.views.enrollment_create

    def merged_first(**kwargs):
        customer_merge(keep=kept, remove=shown, values={}, by=staff_member)
        return service(**kwargs)

    monkeypatch.setattr(courses.views, "enrollment_create", merged_first)
    client.force_login(staff_member)
    response = client.post(
        reverse("courses:enrollment-create", args=[course.pk]),
        {"customer": shown.pk, "source": "office"},
    )
    assert response.status_code == 302
    assert {m.level_tag for m in get_messages(response.wsgi_request)} == {"error"}
    assert not Enrollment.objects.exists()


def test_the_enrolment_search_shows_who_is_already_on_the_course(client, staff_member):
    """Found on the course, a person is shown as enrolled or waiting (with the
    position), not as "nobody found, add a customer", which invites a duplicate."""
    course = CourseFactory(capacity=1)
    enrolled = EnrollmentFactory(course=course, customer=CustomerFactory(last_name="Hakala"))
    EnrollmentFactory(
        course=course, status="waitlisted", customer=CustomerFactory(last_name="Hakala")
    )
    other = CustomerFactory(last_name="Hakala")
    client.force_login(staff_member)

    page = client.get(course.get_absolute_url(), {"q": "hakala"})

    body = page.content.decode()
    assert [c.pk for c in page.context["candidates"]] == [other.pk]
    assert {e.customer_id for _c, e, _p in page.context["on_course"]} == {
        enrolled.customer_id,
        *Enrollment.objects.filter(course=course, status="waitlisted").values_list(
            "customer_id", flat=True
        ),
    }
    assert "Jo ilmoittautunut" in body and "Jonossa (numero 1)" in body
    assert "Haulla ei löytynyt asiakkaita" not in body
    # The course is full: the button says where the person goes.
    assert f"Lisää {other.first_name} jonoon" in body


def test_the_course_pages_search_is_audited(client, staff_member):
    """Customers shown by the course page's search are a read of the register."""
    course = CourseFactory()
    CustomerFactory.create_batch(2, last_name="Hakulainen")
    client.force_login(staff_member)

    client.get(course.get_absolute_url(), {"q": "Hakulainen"})

    search = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_SEARCHED)
    assert search.actor == staff_member
    assert search.detail == {
        "query": "Hakulainen",
        "results": 2,
        "rows": 2,
        "via": "course",
        "filters": {"course": str(course.pk)},
    }


def test_cancelling_asks_first_and_can_be_taken_back(client, staff_member):
    """The cancel button opens a page that says who gets the place; only its
    post cancels. The cancelled person is listed and enrolled again in one
    click (onto the waiting list, as the place went to the next in line)."""
    course = CourseFactory(capacity=1)
    taken = EnrollmentFactory(course=course)
    waiting = EnrollmentFactory(course=course, status="waitlisted")
    url = reverse("courses:enrollment-cancel", args=[course.pk, taken.pk])
    client.force_login(staff_member)

    asked = client.get(url)

    taken.refresh_from_db()
    assert taken.status == "enrolled"
    assert waiting.customer.full_name in asked.content.decode()
    client.post(url)
    page = client.get(course.get_absolute_url())
    assert [e.pk for e in page.context["cancelled"]] == [taken.pk]
    client.post(
        reverse("courses:enrollment-create", args=[course.pk]),
        {"customer": taken.customer_id, "source": taken.source},
    )
    taken.refresh_from_db()
    assert taken.status == "waitlisted"
    assert client.get(url).status_code == 200  # now removable from the waiting list


def test_a_cancelled_enrolment_has_no_cancel_page(client, staff_member):
    enrollment = EnrollmentFactory(status="cancelled")
    client.force_login(staff_member)
    url = reverse("courses:enrollment-cancel", args=[enrollment.course_id, enrollment.pk])
    assert client.get(url).status_code == 404


def test_the_course_list_is_searched_by_words_and_days(client, staff_member):
    day = timezone.localtime() + timezone.timedelta(days=30)
    yoga = CourseFactory(title="Hatha-jooga", starts_at=day)
    CourseFactory(title="Pilates", starts_at=day)
    later = CourseFactory(title="Jooga syksy", starts_at=day + timezone.timedelta(days=60))
    client.force_login(staff_member)
    url = reverse("courses:course-list")

    def titles(**query):
        return {c.title for c in client.get(url, query).context["courses"]}

    assert titles(q="jooga") == {yoga.title, later.title}
    assert titles(q="jooga", starts_to=str(day.date())) == {yoga.title}
    assert titles(starts_from=str(later.starts_at.date())) == {later.title}
    # A day no calendar has, or a novel as the words, is no filter and no failure.
    assert len(titles(starts_from="2026-02-31", q="x" * 5000)) == 3


def test_the_instructors_dashboard_speaks_of_their_own_courses(client, instructor):
    CourseFactory(instructor=instructor, title="Oma kurssi")
    client.force_login(instructor)
    body = client.get("/").content.decode()
    assert "Omat kurssit" in body and "Kaikki kurssini" in body
    assert "Kaikki kurssit" not in body


def test_a_customer_is_enrolled_from_their_own_page(client, staff_member):
    customer = CustomerFactory()
    coming = CourseFactory(title="Syysjooga", capacity=1)
    full = CourseFactory(title="Täysi kurssi", capacity=1)
    EnrollmentFactory(course=full)
    already = CourseFactory(title="Jo mukana")
    EnrollmentFactory(course=already, customer=customer)
    client.force_login(staff_member)

    page = client.get(customer.get_absolute_url()).content.decode()
    url = reverse("courses:customer-enrollment-create", args=[customer.pk])
    enrolled = client.post(url, {"course": coming.pk, "source": "phone"}, follow=True)
    waiting = client.post(url, {"course": full.pk, "source": "office"}, follow=True)

    options = page[page.index('id="enrol-course"') :]
    assert "Syysjooga" in options and "Täysi kurssi" in options
    assert "Jo mukana" not in options[: options.index("</select>")]
    assert enrolled.redirect_chain[-1][0] == customer.get_absolute_url()
    assert Enrollment.objects.get(course=coming, customer=customer).source == "phone"
    assert Enrollment.objects.get(course=full, customer=customer).status == "waitlisted"
    assert "numero 1 jonossa" in waiting.content.decode()


@pytest.mark.parametrize("course", ["", "abc", "-1", "99999999999999999999", "0"])
def test_enrolling_from_the_customer_page_takes_no_hostile_course(client, staff_member, course):
    customer = CustomerFactory()
    client.force_login(staff_member)
    url = reverse("courses:customer-enrollment-create", args=[customer.pk])
    response = client.post(url, {"course": course, "source": "office"})
    assert response.status_code in (302, 404)
    assert not Enrollment.objects.exists()


def test_an_instructor_cannot_enrol_from_a_customer_page(client, instructor, own_course):
    customer = CustomerFactory()
    client.force_login(instructor)
    url = reverse("courses:customer-enrollment-create", args=[customer.pk])
    assert client.post(url, {"course": own_course.pk, "source": "office"}).status_code == 403


def test_a_cancelled_course_is_not_searched_for_customers(client, staff_member):
    """Third probe (F10): the page shows no enrolment on a cancelled course,
    so no customers are looked up (nor audited as shown)."""
    course = CourseFactory(is_cancelled=True)
    CustomerFactory(last_name="Laukkanen")
    client.force_login(staff_member)
    page = client.get(course.get_absolute_url(), {"q": "Laukkanen"})
    assert page.context["candidates"] == [] and page.context["on_course"] == []
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_SEARCHED).exists()


def test_an_archived_courses_cancel_page_refuses_at_once(client, staff_member):
    """Third probe: the confirmation page of an archived course showed the
    person's name though its post would be refused."""
    now = timezone.now()
    course = CourseFactory(
        starts_at=now - timezone.timedelta(days=9), ends_at=now - timezone.timedelta(days=8)
    )
    enrollment = EnrollmentFactory(course=course)
    client.force_login(staff_member)
    url = reverse("courses:enrollment-cancel", args=[course.pk, enrollment.pk])
    response = client.get(url, follow=True)
    assert response.redirect_chain[-1][0] == course.get_absolute_url()
    assert "arkisto" in response.content.decode()
    assert client.post(url).status_code == 302
    enrollment.refresh_from_db()
    assert enrollment.status == "enrolled"


def test_a_big_course_lists_its_participants_a_page_at_a_time(client, staff_member, monkeypatch):
    """A lecture may hold thousands: the page shows a page of them (numbered
    on from the pages before), with the same queries whatever the size."""
    monkeypatch.setattr(courses.views, "PARTICIPANTS_PER_PAGE", 3)
    course = CourseFactory(capacity=10)
    people = [
        EnrollmentFactory(course=course, customer=CustomerFactory(last_name=last))
        for last in ("Aalto", "Berg", "Heino", "Kivi", "Laine", "Mäki", "Niemi")
    ]
    client.force_login(staff_member)

    first = client.get(course.get_absolute_url())
    third = client.get(course.get_absolute_url(), {"page": 3})

    assert [e.pk for e in first.context["enrolled"]] == [e.pk for e in people[:3]]
    assert [e.pk for e in third.context["enrolled"]] == [people[6].pk]
    assert "Osallistujat 7/10" in first.content.decode()
    assert "Sivu 1 / 3" in first.content.decode()
    assert "<td>7</td>" in third.content.decode()
    for hostile in ("-1", "0", "x", "9" * 30, "1.5"):
        assert client.get(course.get_absolute_url(), {"page": hostile}).status_code == 200
    # NUL is refused for every page (balansia.middleware.RefuseNulMiddleware).
    assert client.get(course.get_absolute_url(), {"page": "2\x00"}).status_code == 400

    def queries(pages):
        with CaptureQueriesContext(connection) as captured:
            client.get(course.get_absolute_url(), {"page": pages})
        return len(captured)

    few = queries(1)
    EnrollmentFactory.create_batch(3, course=course)
    assert queries(1) == few


def test_the_customer_page_offers_the_next_coming_courses(client, staff_member):
    """The picker holds the next ENROLLABLE_COURSES courses (the course list
    has the rest), each with its places taken."""
    customer = CustomerFactory()
    soon = timezone.now() + timezone.timedelta(days=1)
    courses = [
        CourseFactory(starts_at=soon + timezone.timedelta(hours=n), capacity=5)
        for n in range(ENROLLABLE_COURSES + 5)
    ]
    EnrollmentFactory.create_batch(2, course=courses[0])
    client.force_login(staff_member)

    body = client.get(customer.get_absolute_url()).content.decode()

    offered = re.findall(r'<option value="(\d+)">', body.split('id="enrol-course"')[1])
    assert [int(pk) for pk in offered] == [c.pk for c in courses[:ENROLLABLE_COURSES]]
    assert "2/5 varattu" in body
    assert f"Seuraavat {ENROLLABLE_COURSES} tulevaa kurssia." in body
    assert "Muut kurssit löytyvät kurssiluettelosta." in body


def test_every_list_of_a_courses_participants_is_in_one_order(client, staff_member, instructor):
    """Last name, first name, then the enrolment (the same name twice): the
    roll call, the attendance grid, the CSV and XLSX exports, a message's
    recipients and the course page's cancelled places (the export and a
    message listed them in the order they enrolled, the roll call by name).
    The course page's places stay in the order they were taken, as it says
    (its "#"; by name, a lecture's first page sorted all its thousands); the
    waiting list keeps its queue (its order is who gets the next place)."""
    start = timezone.now().replace(microsecond=0) - timezone.timedelta(hours=1)
    course = CourseFactory(
        instructor=instructor,
        capacity=5,
        sessions=[(start, start + timezone.timedelta(hours=2))],
    )
    names = [
        ("Aino", "Virtanen"),
        ("Sami", "Aalto"),
        ("Eero", "Korhonen"),
        ("Pekka", "Aalto"),
        ("Eero", "Korhonen"),
    ]
    enrolled = [
        EnrollmentFactory(
            course=course, customer=CustomerFactory(first_name=first, last_name=last)
        )
        for first, last in names
    ]
    # The two Eero Korhonens the other way round by id than by insertion, so
    # that the id's place in the order shows (a table read in insertion
    # order hid a missing tie-breaker: the review of 30 Nov).
    top = Enrollment.objects.order_by("-pk").values_list("pk", flat=True).first()
    for enrollment, new_pk in ((enrolled[2], top + 2000), (enrolled[4], top + 1000)):
        Enrollment.objects.filter(pk=enrollment.pk).update(id=new_pk)
        enrollment.pk = enrollment.id = new_pk
    by_name = [enrolled[i].pk for i in (3, 1, 4, 2, 0)]
    # A place whose customer was erased (no name): last where they are by name.
    gone = EnrollmentFactory(course=course, customer=CustomerFactory(last_name="Aaltonen"))
    Enrollment.objects.filter(pk=gone.pk).update(customer=None)
    queue = [
        EnrollmentFactory(
            course=course, status="waitlisted", customer=CustomerFactory(last_name=last)
        )
        for last in ("Öhman", "Berg")
    ]
    left = [
        EnrollmentFactory(
            course=course, status="cancelled", customer=CustomerFactory(last_name=last)
        )
        for last in ("Mäki", "Heino")
    ]
    session = course.sessions.get()

    def pks(enrollments):
        return [e.pk for e in enrollments]

    for user in (staff_member, instructor):
        client.force_login(user)
        page = client.get(course.get_absolute_url())
        assert pks(page.context["enrolled"]) == [*pks(enrolled), gone.pk], user
        assert "Järjestyksessä, jossa paikat varattiin" in page.content.decode(), user
        assert pks(page.context["waitlist"]) == pks(queue), user
        roll_call = client.get(reverse("courses:roll-call", args=[course.pk, session.pk]))
        rows = [e.pk for e, _status, _name in roll_call.context["form"].rows]
        assert rows == [*by_name, gone.pk], user
        grid = client.get(reverse("courses:attendance-grid", args=[course.pk]))
        assert [row[0].pk for row in grid.context["rows"]] == [*by_name, gone.pk], user

    client.force_login(staff_member)
    page = client.get(course.get_absolute_url())
    assert pks(page.context["cancelled"]) == [left[1].pk, left[0].pk]
    people = {e.pk: [e.customer.first_name, e.customer.last_name] for e in [*enrolled, *queue]}
    expected = [people[pk] for pk in [*by_name, *pks(queue)]]
    columns = {"columns": ["first_name", "last_name"], "purpose": "lista", "waitlist": "on"}
    response = export(client, course, file_format="csv", **columns)
    content = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    assert list(csv.reader(io.StringIO(content), delimiter=";"))[1:] == expected
    response = export(client, course, file_format="xlsx", **columns)
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)] == expected
    message = {"subject": "Sali vaihtui", "text": "Olemme salissa 2."}
    url = reverse("courses:course-message", args=[course.pk])
    for audience, order in (("participants", by_name), ("waitlist", pks(queue))):
        preview = client.post(url, {**message, "audience": audience})
        recipients = [customer.pk for customer in preview.context["recipients"]]
        assert recipients == [Enrollment.objects.get(pk=pk).customer_id for pk in order]
