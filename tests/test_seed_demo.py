"""manage.py seed_demo: fictional data that passes the register's own rules."""

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, Q
from django.utils import timezone

from balansia.devtools.management.commands import seed_demo
from courses.models import Attendance, Course, Enrollment, Session
from registry.forms import CustomerForm, VersionField
from registry.models import Consent, Customer
from registry.services import CUSTOMER_FIELDS

pytestmark = pytest.mark.django_db


def test_seed_makes_valid_finnish_customers_courses_and_enrolments(capsys):
    call_command(
        "seed_demo", "--customers", "300", "--courses", "6", "--enrollments", "900", "--seed", "3"
    )
    assert Customer.objects.count() == 300
    assert Enrollment.objects.count() == 900
    assert Consent.objects.exists()
    for customer in Customer.objects.all()[:50]:
        data = {field: getattr(customer, field) for field in CUSTOMER_FIELDS}
        data.update(phone=str(customer.phone), version=VersionField.token(customer))
        form = CustomerForm(data=data, instance=customer)
        assert form.is_valid(), (customer.pk, form.errors)
    assert Customer.objects.search(Customer.objects.first().last_name).exists()
    assert "Done in" in capsys.readouterr().out


def test_seed_refuses_a_register_that_holds_customers_unless_appending():
    call_command("seed_demo", "--customers", "10", "--courses", "1", "--enrollments", "5")
    with pytest.raises(CommandError, match="already holds customers"):
        call_command("seed_demo", "--customers", "10", "--courses", "1", "--enrollments", "5")
    call_command(
        "seed_demo",
        "--customers",
        "10",
        "--courses",
        "1",
        "--enrollments",
        "5",
        "--append",
        "--seed",
        "2",
    )
    assert Customer.objects.count() == 20


def test_seed_makes_series_and_attendance_only_for_sessions_that_happened():
    """Issue 18: mostly weekly series of 6-12 sessions, some one-offs, a few
    cancelled or moved; attendance only where a session has started."""
    call_command(
        "seed_demo", "--customers", "200", "--courses", "30", "--enrollments", "600", "--seed", "4"
    )
    counts = Course.objects.annotate(n=Count("sessions")).values_list("n", flat=True)
    assert all(n == 1 or 6 <= n <= 12 for n in counts)
    assert sum(1 for n in counts if n > 1) > len(counts) / 2
    assert Session.objects.filter(is_cancelled=True).exclude(cancelled_reason="").exists()
    assert Session.objects.exclude(moved_from=None).exists()
    assert Attendance.objects.exists()
    assert not Attendance.objects.filter(
        Q(session__starts_at__gt=timezone.now()) | Q(session__is_cancelled=True)
    ).exists()
    # Nobody calls the roll of an online lecture.
    assert Course.objects.filter(location="Verkossa", starts_at__lt=timezone.now()).exists()
    assert not Attendance.objects.filter(session__course__location="Verkossa").exists()
    assert not Enrollment.objects.filter(status="attended").exists()
    for course in Course.objects.all():
        held = course.sessions.filter(is_cancelled=False) or course.sessions.all()
        assert course.starts_at == min(s.starts_at for s in held)
        assert course.ends_at == max(s.ends_at for s in held)


def test_seed_makes_only_states_the_services_would_leave():
    """Issue 17, item 10: nobody over a course's capacity, a waiting list only
    on a full coming course, enrolled before the course began, groups of 8-20
    places and lectures, consents spread over time."""
    call_command(
        "seed_demo",
        "--customers",
        "400",
        "--courses",
        "40",
        "--enrollments",
        "1200",
        "--seed",
        "5",
    )
    now = timezone.now()
    courses = Course.objects.annotate(
        taken=Count("enrollments", filter=Q(enrollments__status="enrolled")),
        waiting=Count("enrollments", filter=Q(enrollments__status="waitlisted")),
    )
    assert Enrollment.objects.count() == 1200
    for course in courses:
        assert course.taken <= course.capacity, course
        if course.waiting:
            assert course.taken == course.capacity and course.starts_at > now, course
        if not course.title.startswith("Verkkoluento"):
            assert 8 <= course.capacity <= 20, course
    assert not Enrollment.objects.filter(enrolled_at__gt=now).exists()
    late = Enrollment.objects.exclude(status="waitlisted").filter(
        enrolled_at__gt=models.F("course__starts_at")
    )
    assert not late.exists()
    assert Consent.objects.dates("occurred_at", "month").count() > 12
    # What the groups cannot hold is shared by the lectures, not piled on one.
    lectures = sorted(c.taken for c in courses if c.title.startswith("Verkkoluento"))
    assert len(lectures) == 2
    assert lectures[-1] - lectures[0] <= 1 + lectures[-1] // 10, lectures


def test_seed_says_how_to_install_faker_when_it_is_missing(monkeypatch):
    monkeypatch.setattr(seed_demo, "Faker", None)
    with pytest.raises(CommandError, match=r"pip install -e '\.\[dev\]'"):
        call_command("seed_demo", "--customers", "1", "--courses", "1", "--enrollments", "1")


def _indexes_and_constraints():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = ANY(%s::regclass[])",
            [[model._meta.db_table for model in seed_demo.Command.COPIED]],
        )
        indexes = set(cursor.fetchall())
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), "
            "condeferrable, condeferred, convalidated FROM pg_constraint "
            "WHERE conrelid = ANY(%s::regclass[])",
            [[model._meta.db_table for model in seed_demo.Command.COPIED]],
        )
        return indexes, set(cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="only PostgreSQL drops them")
def test_seed_leaves_the_indexes_and_constraints_as_migrated():
    indexes, constraints = _indexes_and_constraints()
    assert any("gin_trgm_ops" in definition for _name, definition in indexes)
    assert any(name == "one_enrollment_per_course" for _table, name, *_ in constraints)
    call_command("seed_demo", "--customers", "50", "--courses", "3", "--enrollments", "60")
    assert _indexes_and_constraints() == (indexes, constraints)
    # A unique constraint holds again.
    enrolment = Enrollment.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.create(
            customer_id=enrolment.customer_id, course_id=enrolment.course_id, status="enrolled"
        )
