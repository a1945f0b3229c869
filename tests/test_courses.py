"""Courses, enrolments, the waiting list and attendance (courses.services)."""

import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.utils import timezone
from django.utils.translation import override

from courses.attendance import attendance_save
from courses.models import Enrollment
from courses.services import (
    EnrollmentError,
    course_update,
    enrollment_cancel,
    enrollment_create,
    waitlist_position,
)
from registry.audit.models import AuditEvent
from registry.models import Customer
from registry.services import customer_merge

from .factories import CourseFactory, CustomerFactory, EnrollmentFactory, UserFactory


def enrol(course, customer, user):
    return enrollment_create(customer=customer, course=course, source="office", by=user)


def statuses(course):
    return {e.customer.last_name: e.status for e in course.enrollments.select_related("customer")}


@pytest.mark.django_db
class TestEnrolment:
    def test_places_then_the_waiting_list_in_order(self, staff_member):
        course = CourseFactory(capacity=2)
        people = [CustomerFactory(last_name=name) for name in ("Aho", "Berg", "Carlsson", "Dahl")]
        results = [enrol(course, person, staff_member) for person in people]
        assert [r.status for r in results] == ["enrolled", "enrolled", "waitlisted", "waitlisted"]
        assert [waitlist_position(r) for r in results] == [None, None, 1, 2]

    def test_a_cancellation_promotes_the_first_on_the_waiting_list(self, staff_member):
        course = CourseFactory(capacity=1)
        first, second, third = (CustomerFactory(last_name=n) for n in ("Aho", "Berg", "Carlsson"))
        taken = enrol(course, first, staff_member)
        enrol(course, second, staff_member)
        enrol(course, third, staff_member)
        _cancelled, promoted = enrollment_cancel(enrollment=taken, by=staff_member)
        assert [p.customer for p in promoted] == [second]
        assert statuses(course) == {
            "Aho": "cancelled",
            "Berg": "enrolled",
            "Carlsson": "waitlisted",
        }
        event = AuditEvent.objects.get(action=AuditEvent.Action.WAITLIST_PROMOTED)
        assert event.target_id == str(second.pk) and event.detail == {"course_id": course.pk}

    def test_raising_the_capacity_promotes_and_lowering_below_enrolled_is_refused(
        self, staff_member
    ):
        course = CourseFactory(capacity=1)
        for name in ("Aho", "Berg", "Carlsson"):
            enrol(course, CustomerFactory(last_name=name), staff_member)
        course_update(course=course, data={"capacity": 2}, by=staff_member)
        assert statuses(course) == {
            "Aho": "enrolled",
            "Berg": "enrolled",
            "Carlsson": "waitlisted",
        }
        with pytest.raises(ValidationError) as refused:
            course_update(course=course, data={"capacity": 1}, by=staff_member)
        assert "capacity" in refused.value.message_dict
        course.refresh_from_db()
        assert course.capacity == 2

    def test_a_customer_is_enrolled_once_but_may_come_back_after_cancelling(self, staff_member):
        course, customer = CourseFactory(), CustomerFactory()
        enrollment = enrol(course, customer, staff_member)
        with pytest.raises(ValidationError):
            enrol(course, customer, staff_member)
        enrollment_cancel(enrollment=enrollment, by=staff_member)
        assert enrol(course, customer, staff_member).status == "enrolled"
        assert course.enrollments.count() == 1

    def test_enrolling_is_activity_of_the_customer_and_is_audited(self, staff_member):
        customer = CustomerFactory()
        type(customer).objects.filter(pk=customer.pk).update(
            last_activity_at=timezone.now() - timedelta(days=900)
        )
        enrol(CourseFactory(), customer, staff_member)
        customer.refresh_from_db()
        assert timezone.now() - customer.last_activity_at < timedelta(minutes=1)
        assert AuditEvent.objects.filter(action="enrolled", target_id=str(customer.pk)).exists()

    def test_a_cancelled_course_takes_no_enrolments(self, staff_member):
        with pytest.raises(ValidationError):
            enrol(CourseFactory(is_cancelled=True), CustomerFactory(), staff_member)


@pytest.mark.django_db
class TestArchiveAndAttendance:
    @pytest.fixture
    def past_course(self):
        start = timezone.now() - timedelta(days=10)
        return CourseFactory(starts_at=start, ends_at=start + timedelta(hours=2))

    def test_a_past_courses_list_is_read_only(self, past_course, staff_member):
        enrollment = EnrollmentFactory(course=past_course)
        with pytest.raises(ValidationError):
            enrol(past_course, CustomerFactory(), staff_member)
        with pytest.raises(ValidationError):
            enrollment_cancel(enrollment=enrollment, by=staff_member)
        enrollment.refresh_from_db()
        assert enrollment.status == "enrolled"

    def test_attendance_is_marked_after_the_start_even_in_the_archive(
        self, past_course, instructor
    ):
        came, absent = EnrollmentFactory(course=past_course), EnrollmentFactory(course=past_course)
        session = past_course.sessions.get()
        attendance_save(
            session=session, marks={came.pk: "came", absent.pk: "absent"}, by=instructor
        )
        assert dict(session.attendances.values_list("enrollment_id", "status")) == {
            came.pk: "came",
            absent.pk: "absent",
        }
        attendance_save(session=session, marks={came.pk: "excused"}, by=instructor)
        assert session.attendances.get(enrollment=came).status == "excused"

    def test_attendance_before_the_start_is_refused(self, instructor):
        enrollment = EnrollmentFactory()
        with pytest.raises(ValidationError):
            attendance_save(
                session=enrollment.course.sessions.get(),
                marks={enrollment.pk: "came"},
                by=instructor,
            )

    def test_editing_a_past_course_keeps_its_participants(self, past_course, staff_member):
        EnrollmentFactory.create_batch(3, course=past_course)
        course_update(course=past_course, data={"title": "Uusi nimi"}, by=staff_member)
        assert past_course.enrollments.count() == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_enrolments_never_exceed_the_capacity():
    """Ten staff members enrol ten customers into three places at the same moment."""
    if connection.vendor != "postgresql":
        pytest.skip("Row locks are proven on PostgreSQL (CI runs this file on it).")

    staff = UserFactory()
    course = CourseFactory(capacity=3)
    customers = CustomerFactory.create_batch(10)
    barrier = threading.Barrier(len(customers))
    errors = []

    def worker(customer):
        try:
            barrier.wait()
            enrol(course, customer, staff)
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(c,)) for c in customers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert course.enrollments.taking_a_place().count() == 3
    assert course.enrollments.filter(status=Enrollment.Status.WAITLISTED).count() == 7


def test_a_customer_merged_away_meanwhile_is_not_enrolled(staff_member):
    """The page showed the customer; before the click, the record was merged
    into another one. The enrolment says so (it was an IntegrityError)."""
    course = CourseFactory()
    shown = CustomerFactory()
    kept = CustomerFactory()
    stale = Customer.objects.get(pk=shown.pk)
    customer_merge(keep=kept, remove=shown, values={}, by=staff_member)
    with pytest.raises(EnrollmentError, match="no longer in the register"), override("en"):
        enrol(course, stale, staff_member)
    assert not Enrollment.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.ENROLLED).exists()


@pytest.mark.django_db(transaction=True)
def test_an_enrolment_waits_for_a_merge_of_the_same_customer():
    """A merge holds the customer's row; the enrolment waits for it and then
    finds the customer gone, instead of failing on the foreign key at commit."""
    if connection.vendor != "postgresql":
        pytest.skip("Row locks are proven on PostgreSQL (CI runs this file on it).")

    staff = UserFactory()
    course = CourseFactory()
    removed, kept = CustomerFactory(), CustomerFactory()
    locked, merged = threading.Event(), []

    def merge():
        try:
            with transaction.atomic():
                Customer.objects.select_for_update().get(pk=removed.pk)
                locked.set()
                time.sleep(0.5)  # the enrolment below is waiting by now
                merged.append(customer_merge(keep=kept, remove=removed, values={}, by=staff))
        finally:
            connections.close_all()

    thread = threading.Thread(target=merge)
    thread.start()
    locked.wait(5)
    try:
        with pytest.raises(EnrollmentError), override("en"):
            enrol(course, removed, staff)
    finally:
        thread.join()
    assert merged and not Enrollment.objects.exists()
