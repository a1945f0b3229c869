"""What the walk through the user journeys (JOURNEYS.md) found in the way of
their users, each pinned: dates and times in the interface's format, no
English on a Finnish page, a form without a meaningless choice, a way back."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from courses.models import Attendance
from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.forms import VersionField

from .factories import (
    CourseFactory,
    CustomerFactory,
    CustomerImportFactory,
    DataSubjectRequestFactory,
    EnrollmentFactory,
)

pytestmark = pytest.mark.django_db

#: A time as English writes it (18:05), never on a Finnish page (18.05).
COLON_TIME = re.compile(r"\b\d{1,2}:\d{2}\b")
LOGIN = reverse("login")


def moment(hour, minute):
    """A moment of 28 November 2026 in Helsinki."""
    zone = timezone.get_current_timezone()
    return datetime.datetime(2026, 11, 28, hour, minute, tzinfo=zone)


def test_the_dashboard_alert_says_its_hour_in_finnish(
    client, register_manager, staff_member, settings
):
    """Was "263 asiakastietoa tunnissa alkaen 29.11. 23:56"."""
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 5
    audit_event_create(
        action="marketing_list_exported", by=staff_member, detail={"rows": 900, "purpose": "kevät"}
    )
    client.force_login(register_manager)
    body = client.get("/").content.decode()
    alert = re.search(r"900 asiakastietoa tunnissa alkaen ([^<]*)<", body)
    assert alert, body
    assert re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{4} klo \d{1,2}\.\d{2}", alert[1].strip())


def test_the_imports_say_when_in_the_interfaces_format(client, staff_member):
    """The import list and page wrote "28.11.2026 12:05" on the Finnish page
    and the same (not "28 Nov 2026, 12:05") on the English one."""
    customer_import = CustomerImportFactory(created_by=staff_member, applied_at=moment(12, 5))
    type(customer_import).objects.filter(pk=customer_import.pk).update(created_at=moment(12, 5))
    client.force_login(staff_member)
    for url in (
        reverse("registry:import-list"),
        reverse("registry:import-detail", args=[customer_import.pk]),
    ):
        finnish = client.get(url).content.decode()
        assert "28.11.2026 klo 12.05" in finnish
        assert not COLON_TIME.search(finnish)
        english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "28 Nov 2026, 12:05" in english


def test_the_lockout_page_says_the_time_in_finnish(client, staff_member, settings):
    """Was "Voit yrittää uudelleen kello 12:20 jälkeen"."""
    for _attempt in range(settings.AXES_FAILURE_LIMIT + 1):
        response = client.post(
            LOGIN, {"username": staff_member.username, "password": "not-the-password-1"}
        )
    body = response.content.decode()
    assert "Kirjautuminen on tilapäisesti lukittu" in body
    assert re.search(r"kello \d{1,2}\.\d{2} jälkeen", body)
    assert not COLON_TIME.search(body)


def test_a_request_logged_says_its_deadline_as_the_pages_do(client, register_manager):
    """The message wrote the deadline 05.11.2026 in both languages."""
    customer = CustomerFactory()
    client.force_login(register_manager)
    url = reverse("registry:request-create", args=[customer.pk])
    for language, written in (("fi", "määräaika 5.11.2026."), ("en", "deadline 5 Nov 2026.")):
        form = client.get(url, HTTP_ACCEPT_LANGUAGE=language).context["form"]
        response = client.post(
            url,
            {
                "kind": "access",
                "received_on": "2026-10-05",
                "identity_verification": "Henkilökortti nähty",
                "submission": form["submission"].value(),
            },
            HTTP_ACCEPT_LANGUAGE=language,
            follow=True,
        )
        assert written in response.content.decode()


def test_a_deadline_too_far_names_the_last_day_as_the_pages_do(client, register_manager):
    case = DataSubjectRequestFactory(
        received_on=datetime.date(2026, 10, 5), deadline=datetime.date(2026, 11, 5)
    )
    client.force_login(register_manager)
    response = client.post(
        reverse("registry:request-detail", args=[case.pk]),
        {
            "status": "open",
            "outcome": "",
            "version": VersionField.token(case),
            "deadline": "2027-03-01",
            "extension_reason": "laaja",
        },
    )
    assert "(5.1.2027)" in str(response.context["form"].errors["deadline"])


@pytest.mark.parametrize(
    "url",
    [
        lambda: reverse("registry:request-create", args=[CustomerFactory().pk]),
        lambda: reverse("registry:request-create-without-customer"),
    ],
)
def test_logging_a_request_offers_the_kinds_and_no_empty_choice(client, register_manager, url):
    """The form's first radio button was "---------", and it was chosen."""
    client.force_login(register_manager)
    response = client.get(url())
    body = response.content.decode()
    assert "---------" not in body
    kinds = [value for value, _label in response.context["form"].fields["kind"].choices]
    assert kinds == ["access", "rectification", "erasure", "objection", "restriction"]
    assert 'name="kind" value="access"' in body.replace(" checked", "")
    assert not re.search(r'name="kind"[^>]*checked', body)


def test_the_access_report_leads_back_to_the_open_request(client, register_manager):
    """Journey 7: from the request to the report, then back to mark the
    request done. The report linked only to the customer, whose page does not
    list requests: the way back was the menu and the list of requests."""
    customer = CustomerFactory()
    case = DataSubjectRequestFactory(customer=customer)
    closed = DataSubjectRequestFactory(customer=customer, status="done")
    client.force_login(register_manager)
    body = client.get(reverse("registry:access-report", args=[customer.pk])).content.decode()
    assert f'href="{case.get_absolute_url()}"' in body
    assert f'href="{closed.get_absolute_url()}"' not in body


def test_the_attendance_grid_marks_a_reported_absence_in_the_pages_language(client, staff_member):
    """The grid marked a reported absence "E" (English "excused") on the
    Finnish page too, where "E" reads as "ei", didn't come."""
    course = CourseFactory(starts_at=timezone.now() - datetime.timedelta(hours=1))
    enrollment = EnrollmentFactory(course=course)
    Attendance.objects.create(
        session=course.sessions.get(), enrollment=enrollment, status="excused"
    )
    client.force_login(staff_member)
    url = reverse("courses:attendance-grid", args=[course.pk])
    cell = re.compile(r'<span aria-hidden="true">(\w)</span>')
    assert cell.findall(client.get(url).content.decode()) == ["I"]
    assert cell.findall(client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()) == ["E"]


def test_the_access_review_is_in_finnish(client, register_manager):
    """Its introduction was in English on the Finnish page (its text changed
    and the catalogue was not updated)."""
    client.force_login(register_manager)
    body = client.get(reverse("registry:access-review")).content.decode()
    assert "Every account of the register" not in body
    assert "Rekisterin kaikki tunnukset." in body


def test_the_trail_says_two_factor_was_set_up_in_the_past_tense():
    """The trail's event read "Ota käyttöön kaksivaiheinen tunnistautuminen",
    an imperative (the set-up page's title), among events that say what was done."""
    with translation.override("fi"):
        label = str(AuditEvent.Action.TWO_FACTOR_ENABLED.label)
        title = gettext("Set up two-factor authentication")
    assert label == "Otti käyttöön kaksivaiheisen tunnistautumisen"
    assert title == "Ota käyttöön kaksivaiheinen tunnistautuminen"


def test_the_report_pages_write_decimals_as_the_language_does(client, register_manager):
    """Journey 11: the fill rates read 75.0 on the Finnish page (75,0); the
    CSV keeps its point."""
    course = CourseFactory(
        title="Jooga", capacity=4, starts_at=timezone.now() - datetime.timedelta(days=10)
    )
    EnrollmentFactory.create_batch(3, course=course)
    client.force_login(register_manager)
    url = reverse("courses:report-courses")
    assert '<td class="text-end">75,0</td>' in client.get(url).content.decode()
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<td class="text-end">75.0</td>' in english
    response = client.get(url, {"csv": "courses"})
    assert ";75.0" in b"".join(response.streaming_content).decode("utf-8-sig")


@pytest.mark.usefixtures("immediate_tasks")
def test_moving_or_cancelling_a_session_says_who_gets_an_email(client, staff_member):
    """Journey 6: the page said only "Session moved." and listed whom to call;
    that the others were told by email it did not say."""
    course = CourseFactory()
    session = course.sessions.get()
    EnrollmentFactory.create_batch(2, course=course)
    EnrollmentFactory(course=course, customer=CustomerFactory(email=""))
    client.force_login(staff_member)
    english = {"HTTP_ACCEPT_LANGUAGE": "en"}
    response = client.post(
        reverse("courses:session-update", args=[course.pk, session.pk]),
        {
            "starts_at": timezone.localtime(session.starts_at).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": timezone.localtime(session.ends_at).strftime("%Y-%m-%dT%H:%M"),
            "location": "Sali 2",
            "version": VersionField.token(session),
        },
        follow=True,
        **english,
    )
    said = [str(m) for m in response.context["messages"]]
    assert "An email about it goes to 2 participants." in said
    assert any(m.startswith("No email address: call this customer") for m in said)
    response = client.post(
        reverse("courses:session-cancel", args=[course.pk, session.pk]),
        {"reason": "Ohjaaja sairastui"},
        follow=True,
        **english,
    )
    assert "An email about it goes to 2 participants." in [
        str(m) for m in response.context["messages"]
    ]


def test_the_enrol_box_asks_how_the_customer_enrolled(client, staff_member):
    """Journey 1: beside the course, the channel's label read "Ilmoittautunut",
    the word of the status badges just above it ("Ilmoittautunut: Toimistolla")."""
    customer = CustomerFactory()
    CourseFactory()
    client.force_login(staff_member)
    body = client.get(customer.get_absolute_url()).content.decode()
    assert '<label class="form-label" for="enrol-source">Ilmoittautumistapa</label>' in body
