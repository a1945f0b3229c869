"""The reports (issue 22): every number against hand-counted factory data,
the rule of small cells, the period filter, CSV, query counts, no names."""

import io
import pickle
import random
import re
from datetime import date, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone, translation
from pypdf import PdfReader

from courses.models import Attendance, Course, Enrollment, Session
from courses.reports import course_figures, courses_report, enrolment_counts, session_figures
from courses.services import enrollment_create
from registry.accounts.services import account_confidentiality_signed
from registry.audit.models import AuditEvent
from registry.backups import backup_verified, last_verified_at
from registry.management.commands import retention as retention_command
from registry.models import ConsentText, Customer
from registry.reports.health import AMBER, GREEN, RED, health
from registry.reports.processing import processing_record_markdown
from registry.reports.selectors import (
    consents_report,
    customers_report,
    reachable_at,
    reachable_at_month_ends,
    rights_report,
)
from registry.reports.tables import SMALL, DatedLabel, Period, bar_chart, people, share
from registry.rights.erasure import customer_erase
from registry.rights.models import add_months
from registry.rights.restriction import customer_restrict
from registry.roles import REGISTER_MANAGER, STAFF
from registry.services import customer_update

from .factories import (
    ConsentFactory,
    CourseFactory,
    CustomerFactory,
    DataSubjectRequestFactory,
    EnrollmentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

Q1_2025 = Period(first=date(2025, 1, 1), last=date(2025, 3, 1))


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def at(year, month, day, hour=12):
    return timezone.make_aware(datetime(year, month, day, hour))


def table(tables, key):
    return next(t for t in tables if t.key == key)


def rows(tables, key):
    return dict(table(tables, key).rows)


# --- The building blocks -----------------------------------------------------


def test_a_count_of_one_or_two_people_is_never_shown():
    assert [people(n) for n in (0, 1, 2, 3, 10)] == [0, SMALL, SMALL, 3, 10]
    assert str(SMALL) == "< 3"
    assert share(1, 10) == SMALL
    assert share(3, 12) == 25.0
    assert share(0, 12) == 0.0
    assert share(0, 0) is None


def test_a_period_is_whole_months():
    period = Period(first=date(2024, 11, 1), last=date(2025, 2, 1))
    assert period.months == [
        date(2024, 11, 1),
        date(2024, 12, 1),
        date(2025, 1, 1),
        date(2025, 2, 1),
    ]
    assert period.start == at(2024, 11, 1, 0)
    assert period.end == at(2025, 3, 1, 0)


# --- Customers -----------------------------------------------------------------


def test_new_customers_per_month_by_how_the_relationship_began():
    for _ in range(3):
        CustomerFactory(created_at=at(2025, 1, 10), source="information_request")
    CustomerFactory(created_at=at(2025, 1, 31, 23), source="web_registration")
    for _ in range(4):
        CustomerFactory(created_at=at(2025, 2, 1, 0), source="enrolment_or_purchase")
    for _ in range(5):  # before the period
        CustomerFactory(created_at=at(2024, 12, 31, 23), source="web_registration")
    new = rows(customers_report(Q1_2025), "new-customers")
    # information request, web registration, enrolment or purchase, total
    assert new == {
        "2025-01": [3, SMALL, 0, 4],
        "2025-02": [0, 0, 4, 4],
        "2025-03": [0, 0, 0, 0],
    }


def test_active_customers_are_those_with_activity_within_twelve_months():
    now = timezone.now()
    for months in (0, 0, 5, 11):
        CustomerFactory(last_activity_at=add_months(now, -months))
    for months in (13, 30):
        CustomerFactory(last_activity_at=add_months(now, -months))
    active = rows(customers_report(Q1_2025), "active-customers")
    assert active == {"All customers": [6, 100.0], "Active": [4, 66.7]}


def test_customers_due_for_retention_now_and_in_each_of_the_next_three_months(settings):
    settings.RETENTION_MONTHS = 36
    now = timezone.now()
    for _ in range(3):
        CustomerFactory(last_activity_at=add_months(now, -37))
    CustomerFactory(last_activity_at=add_months(now, -35) - timedelta(days=15))
    CustomerFactory(last_activity_at=add_months(now, -33) - timedelta(days=15))
    CustomerFactory(last_activity_at=add_months(now, -30))  # not within three months
    # An open request keeps a customer, however old the activity.
    kept = CustomerFactory(last_activity_at=add_months(now, -40))
    DataSubjectRequestFactory(customer=kept)
    due = rows(customers_report(Q1_2025), "retention")
    assert due == {
        "Due now": [3],
        "Within 1 month": [4],
        "Within 2 months": [4],
        "Within 3 months": [5],
    }


# --- Consents --------------------------------------------------------------------


def test_share_reachable_by_each_channel_at_each_month_end():
    december = at(2024, 12, 1)
    consenting = [CustomerFactory(created_at=december) for _ in range(3)]
    withdrawing = [CustomerFactory(created_at=december) for _ in range(3)]
    objecting = [CustomerFactory(created_at=december) for _ in range(3)]
    CustomerFactory(created_at=december)
    CustomerFactory(created_at=at(2025, 2, 5))  # not there at the end of January
    for customer in consenting + withdrawing:
        ConsentFactory(customer=customer, occurred_at=at(2024, 12, 15))
    for customer in withdrawing:
        ConsentFactory(
            customer=customer, event="withdrawn", text=None, occurred_at=at(2025, 2, 10)
        )
    for customer in objecting:
        ConsentFactory(
            customer=customer,
            channel="direct_marketing",
            event="objection",
            text=None,
            occurred_at=at(2025, 1, 20),
        )
    # An event after the period's month end does not count at that month end.
    ConsentFactory(
        customer=objecting[0],
        channel="sms",
        occurred_at=at(2025, 4, 2),
        text=None,
        event="withdrawn",
    )
    tables = consents_report(Period(first=date(2024, 12, 1), last=date(2025, 2, 1)))
    # email, SMS, post, phone; in percent of the customers there at the month end
    assert rows(tables, "reachable") == {
        "2024-12": [60.0, 0.0, 100.0, 100.0],
        "2025-01": [60.0, 0.0, 70.0, 70.0],
        "2025-02": [round(300 / 11, 1), 0.0, round(800 / 11, 1), round(800 / 11, 1)],
    }
    # email withdrawn, SMS withdrawn, objections, objections lifted
    assert rows(tables, "withdrawals") == {
        "2024-12": [0, 0, 0, 0],
        "2025-01": [0, 0, 3, 0],
        "2025-02": [3, 0, 0, 0],
    }


def test_an_objection_lifted_makes_the_customer_reachable_again():
    customers = [CustomerFactory(created_at=at(2024, 12, 1)) for _ in range(3)]
    for customer in customers:
        for event, day in (("objection", 5), ("objection_lifted", 20)):
            ConsentFactory(
                customer=customer,
                channel="direct_marketing",
                event=event,
                text=None,
                occurred_at=at(2025, 1, day),
            )
    tables = consents_report(Period(first=date(2025, 1, 1), last=date(2025, 1, 1)))
    assert rows(tables, "reachable") == {"2025-01": [0.0, 0.0, 100.0, 100.0]}
    assert rows(tables, "withdrawals") == {"2025-01": [0, 0, 3, 3]}


def _ledger(customer, *events):
    """events: (channel, event, occurred_at), recorded in this order."""
    for channel, event, moment in events:
        ConsentFactory(
            customer=customer,
            channel=channel,
            event=event,
            occurred_at=moment,
            **({} if event == "given" else {"text": None}),
        )


def test_reach_after_re_consent_objection_tie_and_erasure(register_manager):
    """The edge cases of the month-end counts in SQL, counted by hand."""
    december = at(2024, 12, 1)
    email = "email"
    for _ in range(3):  # withdrawn and given again within each month: reachable
        _ledger(
            CustomerFactory(created_at=december),
            (email, "given", at(2025, 1, 5)),
            (email, "withdrawn", at(2025, 1, 10)),
            (email, "given", at(2025, 1, 20)),
            (email, "withdrawn", at(2025, 2, 3)),
            (email, "given", at(2025, 2, 25)),
        )
    for _ in range(3):  # withdrawn for good before the end of January
        _ledger(
            CustomerFactory(created_at=december),
            (email, "given", at(2025, 1, 5)),
            (email, "withdrawn", at(2025, 1, 28)),
        )
    for _ in range(3):  # objected in January, lifted in February: the consent counts again
        _ledger(
            CustomerFactory(created_at=december),
            (email, "given", at(2025, 1, 5)),
            ("direct_marketing", "objection", at(2025, 1, 15)),
            ("direct_marketing", "objection_lifted", at(2025, 2, 10)),
        )
    for _ in range(3):  # given and withdrawn at the same moment: the later record wins
        _ledger(
            CustomerFactory(created_at=december),
            (email, "given", at(2025, 1, 5)),
            (email, "withdrawn", at(2025, 1, 5)),
        )
    erased = CustomerFactory(created_at=december)
    _ledger(erased, (email, "given", at(2025, 1, 5)))
    customer_erase(customer=erased, by=register_manager)
    period = Period(first=date(2025, 1, 1), last=date(2025, 2, 1))
    oracle = [reachable_at(moment) for _month, moment in period.month_ends()]
    assert reachable_at_month_ends(period) == oracle
    tables = consents_report(period)
    # email, SMS, post, phone of 12 customers
    assert rows(tables, "reachable") == {
        "2025-01": [25.0, 0.0, 75.0, 75.0],
        "2025-02": [50.0, 0.0, 100.0, 100.0],
    }
    # email withdrawn, SMS withdrawn, objections, objections lifted (customers)
    assert rows(tables, "withdrawals") == {
        "2025-01": [9, 0, 3, 0],
        "2025-02": [3, 0, 0, 3],
    }


def test_a_consent_recorded_before_the_customer_was_added_counts_from_the_addition():
    """An imported ledger may predate the customer's row: the customer is
    counted from the month end after being added, consent and all."""
    for _ in range(4):
        _ledger(CustomerFactory(created_at=at(2025, 2, 10)), ("sms", "given", at(2024, 12, 5)))
    for _ in range(4):
        CustomerFactory(created_at=at(2024, 12, 1))
    tables = consents_report(Period(first=date(2025, 1, 1), last=date(2025, 2, 1)))
    assert rows(tables, "reachable") == {
        "2025-01": [0.0, 0.0, 100.0, 100.0],
        "2025-02": [0.0, 50.0, 100.0, 100.0],
    }


# --- Data subject requests ---------------------------------------------------------


def test_requests_per_month_days_to_answer_and_late_answers():
    received = date(2025, 1, 10)
    for days in (5, 10, 40):  # one month from 10 January is 10 February: 40 days is late
        DataSubjectRequestFactory(
            kind="access",
            received_on=received,
            deadline=date(2025, 2, 10),
            status="done",
            completed_on=received + timedelta(days=days),
        )
    DataSubjectRequestFactory(kind="erasure", received_on=received, deadline=date(2025, 2, 10))
    DataSubjectRequestFactory(kind="access", received_on=date(2024, 12, 31))  # outside
    tables = rights_report(
        Period(first=date(2025, 1, 1), last=date(2025, 2, 1)), today=date(2025, 3, 1)
    )
    # access, rectification, erasure, objection, restriction, total
    assert rows(tables, "requests") == {
        "2025-01": [3, 0, SMALL, 0, 0, 4],
        "2025-02": [0, 0, 0, 0, 0, 0],
    }
    # received, answered, median days, longest, answered late, open past the deadline
    answers = rows(tables, "answer-days")
    assert answers["Access (what do you have about me?)"] == [3, 3, 10, 40, SMALL, 0]
    assert answers["Erasure"] == [SMALL, 0, None, None, 0, SMALL]
    assert answers["Rectification"] == [0, 0, None, None, 0, 0]
    assert answers["All requests"] == [4, 3, 10, 40, SMALL, SMALL]


# --- Courses -----------------------------------------------------------------------


def _waited(course, *targets, promoted=()):
    for target in targets:
        AuditEvent.objects.create(
            action=AuditEvent.Action.ENROLLED,
            target_type="registry.customer",
            target_id=str(target),
            detail={"course_id": course.pk, "status": "waitlisted", "source": "office"},
        )
    for target in promoted:
        AuditEvent.objects.create(
            action=AuditEvent.Action.WAITLIST_PROMOTED,
            target_type="registry.customer",
            target_id=str(target),
            detail={"course_id": course.pk},
        )


def test_course_fill_rate_waiting_list_and_cancellations():
    full = CourseFactory(
        title="Jooga", starts_at=at(2025, 3, 10), ends_at=at(2025, 3, 10, 14), capacity=4
    )
    # (Enrolled only: "attended" becomes per-session attendance with the sessions.)
    for _ in range(3):
        EnrollmentFactory(course=full, status="enrolled")
    # An erased participant: the row without the person still counts.
    EnrollmentFactory(course=full, status="enrolled", customer=None)
    for status in ("waitlisted", "waitlisted", "cancelled"):
        EnrollmentFactory(course=full, status=status)
    # Four waited (one of them twice), one got a place.
    _waited(full, 101, 102, 103, 104, 104, promoted=[101])
    half = CourseFactory(
        title="Jooga 2", starts_at=at(2025, 4, 10), ends_at=at(2025, 4, 10, 14), capacity=10
    )
    for _ in range(5):
        EnrollmentFactory(course=half)
    CourseFactory(
        title="Pilates",
        starts_at=at(2025, 9, 1),
        ends_at=at(2025, 9, 1, 14),
        capacity=8,
        is_cancelled=True,
    )
    CourseFactory(title="Jooga", starts_at=at(2026, 1, 10), ends_at=at(2026, 1, 10, 14))
    tables = courses_report(Period(first=date(2025, 1, 1), last=date(2025, 12, 1)))
    assert rows(tables, "course-types") == {
        "Jooga, spring 2025": [round(900 / 14, 1)],
    }
    # capacity, enrolled, fill rate, waited, got a place, never did, cancelled enrolments
    assert rows(tables, "courses") == {
        "Jooga, 2025-03-10": [4, 4, 100.0, 4, SMALL, 3, SMALL],
        "Jooga 2, 2025-04-10": [10, 5, 50.0, 0, 0, 0, 0],
        "Pilates, 2025-09-01 (cancelled)": [8, 0, None, 0, 0, 0, 0],
    }
    assert rows(tables, "waiting-list") == {
        "spring 2025": [4, SMALL, 3, SMALL],
        "autumn 2025": [0, 0, 0, 0],
    }
    assert rows(tables, "cancelled-courses") == {"spring 2025": [2, 0], "autumn 2025": [1, 1]}
    assert rows(tables, "unmet-demand") == {"Jooga, 2025-03-10": [3]}


def _marks(session, marks, enrollments):
    """marks: one letter per enrolment: C came, A didn't come, E excused, - none."""
    status = {"C": "came", "A": "absent", "E": "excused"}
    Attendance.objects.bulk_create(
        Attendance(session=session, enrollment=enrollment, status=status[mark])
        for mark, enrollment in zip(marks, enrollments, strict=True)
        if mark != "-"
    )


def _weekly(first, count):
    return [
        (first + timedelta(days=7 * n), first + timedelta(days=7 * n, hours=1))
        for n in range(count)
    ]


@pytest.fixture
def attendance_data(register_manager):
    """Jooga: five sessions in March 2025, the last cancelled; five enrolled.
    Pilates: one session, three enrolled. Counted by hand in the tests."""
    jooga = CourseFactory(title="Jooga 1", capacity=10, sessions=_weekly(at(2025, 3, 3, 18), 5))
    people_on = [EnrollmentFactory(course=jooga) for _ in range(5)]
    s1, s2, s3, s4, s5 = jooga.sessions.order_by("starts_at")
    _marks(s1, "CCCCA", people_on)
    _marks(s2, "CCCEA", people_on)
    _marks(s3, "CCAAA", people_on)
    _marks(s4, "CAA-A", people_on)
    Session.objects.filter(pk=s5.pk).update(is_cancelled=True)
    pilates = CourseFactory(title="Pilates", capacity=8, sessions=_weekly(at(2025, 4, 7, 10), 1))
    on_pilates = [EnrollmentFactory(course=pilates) for _ in range(3)]
    _marks(pilates.sessions.get(), "CEC", on_pilates)
    # Not held in the period: a session before it, and one not yet begun.
    CourseFactory(title="Jooga", sessions=_weekly(at(2024, 12, 2, 18), 1))
    CourseFactory(title="Jooga")
    # Erased since: the numbers stay (the enrolment and its marks stay without the person).
    customer_erase(customer=people_on[1].customer, by=register_manager)
    return jooga


def test_attendance_and_no_shows_per_session(attendance_data):
    tables = courses_report(Period(first=date(2025, 1, 1), last=date(2025, 12, 1)))
    # enrolled, came, didn't come, reported absence, not marked, attendance %, no-shows %
    assert rows(tables, "sessions") == {
        "Jooga 1, 2025-03-03 18:00": [5, 4, SMALL, 0, 0, 80.0, SMALL],
        "Jooga 1, 2025-03-10 18:00": [5, 3, SMALL, SMALL, 0, 60.0, SMALL],
        "Jooga 1, 2025-03-17 18:00": [5, SMALL, 3, 0, 0, SMALL, 60.0],
        "Jooga 1, 2025-03-24 18:00": [5, SMALL, 3, 0, SMALL, SMALL, 75.0],
        "Pilates, 2025-04-07 10:00": [3, SMALL, 0, SMALL, 0, SMALL, 0.0],
    }
    # Jooga: 10 came, 8 didn't, 1 excused of 19 marks; Pilates 2 came, 1 excused.
    assert rows(tables, "attendance") == {
        "Jooga, spring 2025": [round(1000 / 19, 1), round(800 / 19, 1)],
        "Pilates, spring 2025": [SMALL, 0.0],
    }


def test_who_stopped_coming_after_the_first_three_sessions(attendance_data):
    tables = courses_report(Period(first=date(2025, 1, 1), last=date(2025, 12, 1)))
    # Four came to one of the first three; three of them (not the first) never after.
    # Pilates had one session: not counted.
    assert rows(tables, "stopped-coming") == {"spring 2025": [4, 3, 75.0]}


def test_attendance_csv(client, register_manager, attendance_data):
    client.force_login(register_manager)
    response = client.get(
        reverse("courses:report-courses"),
        {"since": "2025-01", "until": "2025-12", "csv": "attendance"},
    )
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert text.splitlines()[1:] == [
        "Jooga, kevät 2025;52.6;42.1",
        "Pilates, kevät 2025;< 3;0.0",
    ]


def test_the_page_shows_the_latest_sessions_and_the_csv_all_of_them(
    client, register_manager, attendance_data, monkeypatch, settings
):
    monkeypatch.setattr("courses.reports.SESSIONS_ON_PAGE", 2)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(register_manager)
    query = {"since": "2025-01", "until": "2025-12"}
    html = client.get(reverse("courses:report-courses"), query).content.decode()
    assert "The last 2 rows of 5 are shown; the CSV download has them all." in html
    # The page writes a session's moment as the interface does; the CSV in ISO form.
    assert "Pilates, 7 Apr 2025, 10:00" in html and "Jooga 1, 24 Mar 2025, 18:00" in html
    assert "Jooga 1, 17 Mar 2025, 18:00" not in html and "2025-04-07" not in html
    response = client.get(reverse("courses:report-courses"), {**query, "csv": "sessions"})
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + 5
    assert any(line.startswith("Pilates, 2025-04-07 10:00") for line in lines)


def test_a_report_page_writes_its_days_and_months_in_finnish(
    client, register_manager, attendance_data
):
    """A walk through the journeys (2026-11-29): on Finnish pages the rows
    read "Venyttely 12, 2026-07-29" and months "2025-12"."""
    client.force_login(register_manager)
    query = {"since": "2025-01", "until": "2025-12"}
    html = client.get(reverse("courses:report-courses"), query).content.decode()
    assert "Pilates, 7.4.2025 klo 10.00" in html
    assert "2025-04-07" not in html
    customers = client.get(reverse("registry:report-customers"), query).content.decode()
    assert "tammikuu 2025" in customers
    assert ">2025-01<" not in customers


# --- Charts ------------------------------------------------------------------------


def test_a_chart_draws_each_value_to_scale_and_a_small_cell_as_nothing():
    customers = customers_report(Q1_2025)
    new = table(customers, "new-customers")
    new.rows = [("2025-01", [10, SMALL, 0, 5]), ("2025-02", [2, 0, 0, 20])]
    chart = bar_chart(new)
    heights = [bar["height"] for bar in chart["bars"]]
    baseline = chart["baseline"]
    full = baseline - 12  # the plot's height; the scale ends at 20
    assert heights == [full / 2, 0, 0, full / 4, full / 10, 0, 0, full]
    assert chart["bars"][1]["title"] == "2025-01, Web service registration: < 3"


# --- Pages ------------------------------------------------------------------------


REPORT_PAGES = [
    "registry:report-customers",
    "registry:report-consents",
    "registry:report-requests",
    "courses:report-courses",
]


@pytest.fixture
def some_data():
    """A little of everything, with names that must never show in a report."""
    customer = CustomerFactory(first_name="Zyxwvu", last_name="Qwertyuiop")
    ConsentFactory(customer=customer)
    course = CourseFactory(title="Jooga")
    EnrollmentFactory(course=course, customer=customer)
    DataSubjectRequestFactory(customer=customer)
    return customer


@pytest.mark.parametrize("name", [*REPORT_PAGES, "registry:report-health", "registry:reports"])
def test_report_pages_show_no_names_send_no_store_and_use_no_inline_style(
    client, register_manager, some_data, name
):
    client.force_login(register_manager)
    response = client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Zyxwvu" not in html and "Qwertyuiop" not in html
    assert some_data.email not in html
    assert "no-store" in response["Cache-Control"]
    assert "style=" not in html  # the CSP allows no inline styles


@pytest.mark.parametrize("name", REPORT_PAGES)
def test_each_report_has_charts_tables_and_csv_downloads(
    client, register_manager, some_data, name
):
    client.force_login(register_manager)
    html = client.get(reverse(name)).content.decode()
    assert "<svg" in html and "<table" in html and "csv=" in html


def test_the_period_filter_chooses_the_months(client, register_manager):
    client.force_login(register_manager)
    response = client.get(
        reverse("registry:report-customers"), {"since": "2025-01", "until": "2025-03"}
    )
    tables = [block["table"] for block in response.context["blocks"]]
    months = [label for label, _values in table(tables, "new-customers").rows]
    assert months == ["2025-01", "2025-02", "2025-03"]


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2025-13", "", "Enter a valid date."),
        ("\x00", "", None),
        ("2025-05", "2025-01", "The last month cannot be before the first."),
        ("2020-01", "2025-01", "A report covers at most 36 months."),
        ("1066-01", "1066-02", "Choose months between the years 2000 and 2100."),
        ("9" * 5000, "-1", "Enter a valid date."),
    ],
)
def test_a_bad_period_gets_a_message_and_the_default_months(
    client, register_manager, settings, since, until, message
):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(register_manager)
    response = client.get(reverse("registry:report-customers"), {"since": since, "until": until})
    if message is None:  # NUL is refused before any view
        assert response.status_code == 400
        return
    assert response.status_code == 200
    errors = [str(e) for field in response.context["form"].errors.values() for e in field]
    assert message in errors
    new = next(b["table"] for b in response.context["blocks"] if b["table"].key == "new-customers")
    assert len(new.rows) == 12


def test_csv_download_of_one_table(client, register_manager):
    for _ in range(3):
        CustomerFactory(created_at=at(2025, 1, 10))
    CustomerFactory(created_at=at(2025, 2, 10))
    client.force_login(register_manager)
    response = client.get(
        reverse("registry:report-customers"),
        {"since": "2025-01", "until": "2025-02", "csv": "new-customers"},
    )
    assert response["Content-Type"].startswith("text/csv")
    assert "new-customers-2025-01-2025-02.csv" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert text.splitlines()[1:] == [
        "2025-01;3;0;0;3",
        "2025-02;< 3;0;0;< 3",
    ]
    missing = client.get(reverse("registry:report-customers"), {"csv": "nothing-like-this"})
    assert missing.status_code == 404


def _grow(count):
    for _ in range(count):
        customer = CustomerFactory()
        ConsentFactory(customer=customer)
        course = CourseFactory()
        EnrollmentFactory(course=course, customer=customer)
        DataSubjectRequestFactory(customer=customer)
        # A course over, with sessions and marks (attendance, who stopped coming).
        held = CourseFactory(sessions=_weekly(timezone.now() - timedelta(days=60), 4))
        enrollment = EnrollmentFactory(course=held, customer=customer)
        for session, mark in zip(held.sessions.all(), "CCAA", strict=True):
            _marks(session, mark, [enrollment])


@pytest.mark.parametrize("name", [*REPORT_PAGES, "registry:report-health"])
def test_the_number_of_queries_does_not_grow_with_the_data(
    client, register_manager, django_assert_max_num_queries, name
):
    client.force_login(register_manager)
    counts = []
    for size in (1, 6):
        _grow(size)
        with django_assert_max_num_queries(40) as queries:
            client.get(reverse(name))
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- Permission ----------------------------------------------------------------------


def test_the_register_manager_has_the_reports_and_office_staff_may_be_given_them(
    client, staff_member
):
    manager = Group.objects.get(name=REGISTER_MANAGER)
    assert manager.permissions.filter(codename="view_reports").exists()
    assert not Group.objects.get(name=STAFF).permissions.filter(codename="view_reports").exists()
    client.force_login(staff_member)
    assert client.get(reverse("registry:reports")).status_code == 403
    staff_member.user_permissions.add(manager.permissions.get(codename="view_reports"))
    client.force_login(staff_member)
    assert client.get(reverse("courses:report-courses")).status_code == 200


def test_the_dashboard_links_to_the_reports(client, register_manager, staff_member):
    client.force_login(register_manager)
    assert reverse("registry:reports") in client.get(reverse("home")).content.decode()
    client.force_login(staff_member)
    assert reverse("registry:reports") not in client.get(reverse("home")).content.decode()


# --- Health ---------------------------------------------------------------------------


def statuses():
    return [line.status for line in health()]


def test_health_in_order(settings, tmp_path, register_manager):
    settings.BACKUP_DIR = tmp_path
    (tmp_path / f"balansia-{timezone.now():%Y%m%d-%H%M%S}-x.balansia-backup").write_bytes(b"")
    backup_verified(tmp_path / "x.balansia-backup", [])
    call_command("retention", verbosity=0)
    account_confidentiality_signed(user=register_manager, signed_on=date(2026, 1, 5))
    assert statuses() == [GREEN] * 11


def test_health_shows_what_needs_doing(settings, tmp_path, register_manager):
    settings.BACKUP_DIR = tmp_path
    backup_verified(tmp_path / "bad.balansia-backup", ["a table: 3 in the manifest, 2 restored"])
    assert last_verified_at() is None  # a failed verification is no evidence
    UserFactory(roles=[REGISTER_MANAGER])  # without two-factor
    UserFactory(last_login=timezone.now() - timedelta(days=200))
    CustomerFactory(last_activity_at=add_months(timezone.now(), -40))
    DataSubjectRequestFactory(received_on=date(2025, 1, 1), deadline=date(2025, 2, 1))
    lines = health()
    assert [line.status for line in lines] == [
        *[RED, RED, RED, AMBER, AMBER, RED],
        GREEN,  # no event is old enough for prune_logs
        *[RED, GREEN, GREEN, GREEN],
    ]
    assert "1 of 2 register managers have no two-factor authentication." in lines[2].evidence
    assert lines[5].link == reverse("registry:retention")


def test_health_counts_active_accounts_without_a_signed_undertaking(client, register_manager):
    account_confidentiality_signed(user=register_manager, signed_on=date(2026, 1, 5))
    UserFactory(roles=[STAFF])  # never recorded
    account_confidentiality_signed(user=UserFactory(roles=[STAFF]), signed_on=None)
    UserFactory(roles=[STAFF], is_active=False)  # gone: not counted
    (line,) = [line for line in health() if "confidentiality" in line.promise]
    assert line.status == AMBER
    assert line.evidence == "2 active accounts without a signed confidentiality undertaking."
    assert line.link == reverse("registry:access-review")
    client.force_login(register_manager)
    page = client.get(reverse("registry:report-health")).content.decode()
    assert "ilman allekirjoitettua salassapitositoumusta" in page


def test_the_retention_run_is_recorded_even_when_nobody_is_due():
    call_command("retention", verbosity=0)
    event = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_RUN)
    assert event.detail["erased"] == 0


def test_the_retention_run_skips_who_became_due_no_longer_after_the_choice(
    monkeypatch, staff_member, register_manager
):
    """Between the list and the erasure one customer enrols, one is
    restricted, one is changed: each is asked again, locked, and kept."""
    long_ago = timezone.now() - timedelta(days=4 * 365)
    enrols, restricted, changed, due = CustomerFactory.create_batch(4)
    Customer.objects.update(last_activity_at=long_ago)
    chosen = retention_command.retention_candidates

    def chosen_then_changed(cutoff=None):
        listed = list(chosen(cutoff))
        enrollment_create(
            customer=enrols, course=CourseFactory(), source="office", by=staff_member
        )
        customer_restrict(customer=restricted, by=register_manager)
        customer_update(customer=changed, data={"city": "Kuopio"}, by=staff_member)
        return listed

    monkeypatch.setattr(retention_command, "retention_candidates", chosen_then_changed)
    out = io.StringIO()
    call_command("retention", stdout=out)
    assert set(Customer.objects.all()) == {enrols, restricted, changed}
    assert "Erased 1 customer." in out.getvalue()
    assert "Skipped 3 customers" in out.getvalue()
    run = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_RUN)
    assert (run.detail["erased"], run.detail["skipped"]) == (1, 3)
    assert f"#{due.pk}" in out.getvalue() and f"#{enrols.pk}" not in out.getvalue()


def test_the_record_of_processing_activities_comes_from_settings(
    client, register_manager, settings
):
    settings.RETENTION_MONTHS = 24
    text = processing_record_markdown()
    assert "# Record of processing activities (GDPR article 30)" in text
    assert "24 months without activity" in text
    assert settings.REGISTER_CONTROLLER["name"] in text
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(register_manager)
    response = client.get(reverse("registry:processing-record"))
    assert response["Content-Type"].startswith("text/markdown")
    assert "attachment" in response["Content-Disposition"]
    assert "24 months" in response.content.decode()


def _pdf_text(content):
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.mark.parametrize(
    ("query", "filename", "words"),
    [
        (
            {},
            "seloste-kasittelytoimista.pdf",
            ["Seloste käsittelytoimista", "Rekisterinpitäjä", "24 kuukauden kuluttua"],
        ),
        (
            {"language": "en"},
            "record-of-processing.pdf",
            ["Record of processing activities", "Controller", "24 months without activity"],
        ),
    ],
)
def test_the_record_of_processing_activities_as_a_pdf_in_finnish_or_english(
    client, register_manager, settings, query, filename, words
):
    settings.RETENTION_MONTHS = 24
    # The interface is in English: the document is still Finnish unless asked.
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(register_manager)
    response = client.get(reverse("registry:processing-record-pdf"), query)
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{filename}"' in response["Content-Disposition"]
    text = _pdf_text(response.content)
    for word in words:
        assert word in text
    assert settings.REGISTER_CONTROLLER["name"] in text


def test_the_record_of_processing_activities_in_no_other_language(client, register_manager):
    client.force_login(register_manager)
    response = client.get(reverse("registry:processing-record-pdf"), {"language": "sv"})
    assert response.status_code == 404


def test_the_health_page_links_to_the_record_in_both_languages(client, register_manager):
    client.force_login(register_manager)
    html = client.get(reverse("registry:report-health")).content.decode()
    url = reverse("registry:processing-record-pdf")
    assert f'href="{url}"' in html and f'href="{url}?language=en"' in html


def test_chart_coordinates_are_numbers_in_every_language(client, register_manager):
    """Finnish writes 12,5: in an SVG attribute that is no number at all."""
    for _ in range(7):
        CustomerFactory()
    client.force_login(register_manager)
    html = client.get(reverse("registry:report-customers")).content.decode()
    assert 'lang="fi"' in html
    coordinates = re.findall(r' (?:x|y|width|height)="([^"]*)"', html)
    assert coordinates
    assert all(re.fullmatch(r"-?\d+(\.\d+)?", value) for value in coordinates), coordinates


def test_the_month_end_counts_in_sql_agree_with_one_query_per_month_end():
    """reachable_at_month_ends (two queries, the month ends counted in SQL)
    against reachable_at (the rules of contactable_by, one query per month
    end) on a random ledger."""
    rng = random.Random(22)
    period = Period(first=date(2024, 10, 1), last=date(2025, 3, 1))
    moments = [moment for _month, moment in period.month_ends()]
    start = at(2024, 8, 1)
    for number in range(60):
        kind = number % 4
        customer = CustomerFactory(
            created_at=start + timedelta(days=rng.randrange(0, 240)),
            email="" if kind == 1 else f"sweep{number}@example.invalid",
            phone="" if kind == 2 else f"+35850{number:07d}",
            street_address="" if kind == 3 else "Katu 1",
        )
        for _ in range(rng.randrange(0, 7)):
            channel = rng.choice(["email", "sms", "direct_marketing"])
            if channel == "direct_marketing":
                event, text = rng.choice(["objection", "objection_lifted"]), None
            else:
                event = rng.choice(["given", "withdrawn"])
                text = (
                    ConsentText.objects.filter(channel=channel).first()
                    if event == "given"
                    else None
                )
            ConsentFactory(
                customer=customer,
                channel=channel,
                event=event,
                text=text,
                # Whole days only, so that some events of a customer share a moment.
                occurred_at=start + timedelta(days=rng.randrange(0, 260)),
            )
    assert reachable_at_month_ends(period) == [reachable_at(moment) for moment in moments]


def restricted_at(customer, moment):
    Customer.objects.filter(pk=customer.pk).update(restricted_since=moment)


def test_the_reach_leaves_out_the_restricted_from_when_they_were_restricted(
    client, register_manager
):
    """A customer whose processing is restricted (GDPR art. 18) is not
    reachable from the month end after the restriction began, on any channel;
    the month not yet over counts as the marketing lists do now."""
    this_month = timezone.localdate().replace(day=1)
    period = Period(first=add_months(this_month, -2), last=this_month)
    ends = [moment for _month, moment in period.month_ends()]
    long_ago = ends[0] - timedelta(days=90)
    free, lately, early = (CustomerFactory(created_at=long_ago) for _ in range(3))
    for customer in (free, lately, early):
        _ledger(customer, ("email", "given", long_ago + timedelta(days=1)))
    restricted_at(lately, ends[1] - timedelta(days=1))
    restricted_at(early, long_ago + timedelta(days=2))

    counts = reachable_at_month_ends(period)

    assert [month["email"] for month in counts] == [2, 1, 1]
    assert [month["post"] for month in counts] == [2, 1, 1]
    assert [month["total"] for month in counts] == [3, 3, 3]
    assert counts == [reachable_at(moment) for moment in ends]
    assert {channel: counts[-1][channel] for channel in ("email", "sms", "post", "phone")} == {
        channel: Customer.objects.contactable_by(channel).count()
        for channel in ("email", "sms", "post", "phone")
    }
    client.force_login(register_manager)
    page = client.get(reverse("registry:report-consents"), HTTP_ACCEPT_LANGUAGE="en")
    assert "nobody whose processing is restricted is counted" in page.content.decode()


def test_the_month_end_counts_agree_with_the_oracle_with_restrictions():
    """As the sweep above, with a third of the customers restricted at a
    random moment (some before they were added, some after the period)."""
    rng = random.Random(18)
    period = Period(first=date(2024, 10, 1), last=date(2025, 3, 1))
    moments = [moment for _month, moment in period.month_ends()]
    start = at(2024, 8, 1)
    for number in range(45):
        customer = CustomerFactory(
            created_at=start + timedelta(days=rng.randrange(0, 240)),
            phone="" if number % 5 == 1 else f"+35850{number:07d}",
        )
        for _ in range(rng.randrange(0, 6)):
            channel = rng.choice(["email", "sms", "direct_marketing"])
            if channel == "direct_marketing":
                event = rng.choice(["objection", "objection_lifted"])
            else:
                event = rng.choice(["given", "withdrawn"])
            _ledger(customer, (channel, event, start + timedelta(days=rng.randrange(0, 260))))
        if number % 3 == 0:
            restricted_at(customer, start + timedelta(days=rng.randrange(-30, 300)))
    assert reachable_at_month_ends(period) == [reachable_at(moment) for moment in moments]


def test_the_course_figures_agree_with_counting_each_course_and_session(register_manager):
    """enrolment_counts, course_figures and session_figures (the enrolments
    grouped once by course and status, the marks by session and status)
    against a count per course and per session, on random data: erased
    people, waiting and cancelled enrolments, cancelled sessions and
    courses, a course begun before the period, sessions not yet held."""
    rng = random.Random(22)
    period = Period(first=date(2025, 1, 1), last=date(2025, 12, 1))
    erased = []
    for number in range(14):
        first = at(2024, 11, 4, 18) + timedelta(days=rng.randrange(0, 420))
        course = CourseFactory(
            title=f"Jooga {number}",
            capacity=rng.randrange(2, 8),
            is_cancelled=number % 7 == 3,
            # The first course began before the period and goes on in it.
            sessions=_weekly(at(2024, 12, 16, 18), 5)
            if number == 0
            else _weekly(first, rng.randrange(1, 6)),
        )
        sessions = list(course.sessions.all())
        if rng.random() < 0.3:
            Session.objects.filter(pk=rng.choice(sessions).pk).update(is_cancelled=True)
        enrollments = [
            EnrollmentFactory(
                course=course,
                status=rng.choice(["enrolled", "enrolled", "waitlisted", "cancelled"]),
                customer=None if rng.random() < 0.1 else CustomerFactory(),
            )
            for _ in range(rng.randrange(0, 9))
        ]
        for session in sessions:
            marked = [e for e in enrollments if e.status != "waitlisted" and rng.random() < 0.8]
            _marks(session, "".join(rng.choice("CAE") for _ in marked), marked)
        erased += [e.customer for e in enrollments if e.customer and rng.random() < 0.15]
    # A session not yet held, of a course in the period.
    CourseFactory(title="Pilates", sessions=_weekly(timezone.now() + timedelta(days=3), 2))
    for customer in erased:
        customer_erase(customer=customer, by=register_manager)
    assert erased and Enrollment.objects.filter(customer=None).exists()

    now = timezone.now()
    counts = enrolment_counts(period, now)

    def count(course, *statuses):
        return Enrollment.objects.filter(course=course, status__in=statuses).count()

    courses = Course.objects.filter(starts_at__gte=period.start, starts_at__lt=period.end)
    assert [
        {key: row[key] for key in ("id", "enrolled", "waiting", "cancelled")}
        for row in course_figures(period, counts)
    ] == [
        {
            "id": course.pk,
            "enrolled": count(course, *Enrollment.TAKING_A_PLACE),
            "waiting": count(course, "waitlisted"),
            "cancelled": count(course, "cancelled"),
        }
        for course in courses.order_by("starts_at", "id")
    ]
    held = Session.objects.filter(
        is_cancelled=False,
        course__is_cancelled=False,
        starts_at__gte=period.start,
        starts_at__lt=min(period.end, now),
    ).order_by("starts_at", "id")
    assert held.exclude(course__in=courses).exists()  # begun before the period
    assert [
        {key: row[key] for key in ("id", "enrolled", "came", "absent", "excused")}
        for row in session_figures(period, counts, now)
    ] == [
        {
            "id": session.pk,
            "enrolled": count(session.course, *Enrollment.TAKING_A_PLACE),
            **{
                status: Attendance.objects.filter(session=session, status=status).count()
                for status in ("came", "absent", "excused")
            },
        }
        for session in held
    ]


def test_a_report_escapes_what_it_shows(client, register_manager, settings):
    CourseFactory(title="<b>Jooga</b>", starts_at=timezone.now() + timedelta(days=3))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(register_manager)
    html = client.get(reverse("courses:report-courses")).content.decode()
    assert "&lt;b&gt;Jooga&lt;/b&gt;" in html and "<b>Jooga" not in html


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL planner setting")
def test_the_consents_reports_planner_setting_stays_in_its_statement():
    """The ledger's stretches are grouped with sorting off (a hash is faster
    there); the request's other statements plan as usual."""
    with transaction.atomic(), connection.cursor() as cursor:
        consents_report(Period.last_months(3))
        cursor.execute("SHOW enable_sort")
        assert cursor.fetchone() == ("on",)


def test_a_dated_label_is_its_iso_text_and_survives_a_pickle():
    """A row's label is ISO text for the CSV and sorting; a cache or a copy
    pickles it by what it was made of."""
    label = DatedLabel(
        date(2025, 3, 1), iso="%Y-%m", display="YEAR_MONTH_FORMAT", prefix="Jooga, "
    )
    assert label == "Jooga, 2025-03"
    again = pickle.loads(pickle.dumps(label))  # noqa: S301 (its own bytes)
    assert again == label
    with translation.override("fi"):
        assert again.shown() == "Jooga, maaliskuu 2025"
