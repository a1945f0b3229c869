"""Writes of courses and enrolments: keyword-only, atomic, audited (`by=`).

Every write that depends on how many places are taken locks the course row
first (SELECT ... FOR UPDATE on PostgreSQL; SQLite takes its write lock when
the transaction begins), so two staff members enrolling the last place at
the same moment never both succeed. An enrolment locks its customer's row
before that, as a merge does.
"""

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.audit.models import AuditEvent
from registry.audit.retention import typed_text_pruner
from registry.audit.services import audit_event_create
from registry.changes import changes_apply
from registry.concurrency import check_version
from registry.erasure import ERASED, erasure_handler
from registry.merge import merge_handler
from registry.models import Customer
from registry.rights.restriction import restricted_since_text

from . import messages as outbox
from .models import Attendance, Course, Enrollment, Message, Session

#: What the course form edits. Its start and end are not among them: they are
#: its first and last session's (course_dates_sync).
COURSE_FIELDS = (
    "title",
    "description",
    "location",
    "instructor",
    "capacity",
    "is_cancelled",
)


class SessionError(ValidationError):
    """A change of a session that the rules refuse (said to the user)."""


class EnrollmentError(ValidationError):
    """A change to the participant list that the rules do not allow."""


def _set_status(enrollment, status):
    enrollment.status = status
    enrollment.status_changed_at = timezone.now()
    enrollment.save(update_fields=["status", "status_changed_at"])


def locked_course(course):
    return Course.objects.select_for_update().get(pk=course.pk)


def _promote_from_waitlist(*, course, by, request):
    """Give free places to the first on the waiting list, in queue order
    (passing over those whose processing is restricted)."""
    free = course.capacity - course.enrollments.taking_a_place().count()
    promoted = []
    for enrollment in course.enrollments.next_in_line()[: max(free, 0)]:
        _set_status(enrollment, Enrollment.Status.ENROLLED)
        audit_event_create(
            action=AuditEvent.Action.WAITLIST_PROMOTED,
            by=by,
            target=enrollment.customer,
            request=request,
            detail={"course_id": course.pk},
        )
        promoted.append(enrollment)
    outbox.notify_promoted(promoted, by=by, request=request)
    return promoted


def waitlist_position(enrollment):
    """1 for the first in the queue; None if not on the waiting list."""
    if enrollment.status != Enrollment.Status.WAITLISTED:
        return None
    ahead = enrollment.course.enrollments.waitlist().filter(
        status_changed_at__lt=enrollment.status_changed_at
    ) | enrollment.course.enrollments.waitlist().filter(
        status_changed_at=enrollment.status_changed_at, id__lt=enrollment.id
    )
    return ahead.count() + 1


def _refuse_if_archived(course):
    if course.is_past:
        raise EnrollmentError(
            _("The course is over: its participant list is the archive and cannot be changed.")
        )


def course_dates_sync(course):
    """Set the course's start and end from its sessions: the first start and
    the last end of those not cancelled (of all, if every one is cancelled).
    The course row is locked by the caller."""
    sessions = course.sessions.held()
    if not sessions.exists():
        sessions = course.sessions.all()
    bounds = sessions.aggregate(first=models.Min("starts_at"), last=models.Max("ends_at"))
    if bounds["first"] is None:
        return course
    if (course.starts_at, course.ends_at) != (bounds["first"], bounds["last"]):
        course.starts_at, course.ends_at = bounds["first"], bounds["last"]
        Course.objects.filter(pk=course.pk).update(
            starts_at=course.starts_at, ends_at=course.ends_at
        )
    return course


@transaction.atomic
def course_create(*, data, by, request=None, sessions=None):
    """Add a course with its sessions, [(start, end), ...]; without them, one
    session from data's starts_at and ends_at (a one-evening course)."""
    if sessions is None:
        sessions = [(data["starts_at"], data["ends_at"])]
    if not sessions:
        raise ValidationError(_("A course needs at least one session."))
    sessions = sorted(sessions)
    course = Course(**{field: data[field] for field in COURSE_FIELDS if field in data})
    course.starts_at, course.ends_at = sessions[0][0], max(end for _start, end in sessions)
    course.full_clean()
    course.save()
    rows = [Session(course=course, starts_at=start, ends_at=end) for start, end in sessions]
    for row in rows:
        row.full_clean(exclude=["course"])
    Session.objects.bulk_create(rows)
    audit_event_create(
        action=AuditEvent.Action.COURSE_CREATED,
        by=by,
        target=course,
        request=request,
        detail={"sessions": [start.isoformat() for start, _end in sessions]},
    )
    return course


SESSION_FIELDS = ("starts_at", "ends_at", "location")


def _session_audit(*, course, session, by, request, what, **detail):
    """A change of a session is a change of its course in the audit trail."""
    course.version += 1
    Course.objects.filter(pk=course.pk).update(version=course.version)
    audit_event_create(
        action=AuditEvent.Action.COURSE_CHANGED,
        by=by,
        target=course,
        request=request,
        detail={"session_id": session.pk, "session": what, **detail},
    )


@transaction.atomic
def session_create(*, course, data, by, request=None):
    """Add one session to a course. Enrolments are not touched. Not to a
    course that is over (its list is the archive)."""
    course = locked_course(course)
    _refuse_if_archived(course)
    session = Session(course=course, **{f: data[f] for f in SESSION_FIELDS if f in data})
    session.full_clean()
    session.save()
    course_dates_sync(course)
    _session_audit(
        course=course,
        session=session,
        by=by,
        request=request,
        what="added",
        starts_at=session.starts_at.isoformat(),
    )
    return session


@transaction.atomic
def session_update(*, session, data, by, request=None, version=None):
    """Move a session (its time or place). The first time it moves, its
    original start is kept ("moved from"). Enrolments and attendance are not
    touched. `version` as in course_update (EditConflict)."""
    course = locked_course(session.course)
    _refuse_if_archived(course)
    current = Session.objects.select_for_update().get(pk=session.pk)
    check_version((current, version), actions=[AuditEvent.Action.COURSE_CHANGED])
    original_start = current.starts_at
    before = (current.starts_at, current.ends_at, current.place)
    changes = changes_apply(current, data, SESSION_FIELDS)
    if changes and current.starts_at > timezone.now() and current.attendances.exists():
        # Marks of a session that has not started would count as came or
        # not at a time that has not come.
        raise SessionError(
            _(
                "Attendance has been marked for this session: it cannot be moved to a "
                "time that has not come. Add a new session instead."
            )
        )
    if changes:
        if current.moved_from is None and current.starts_at != original_start:
            current.moved_from = original_start
        current.version += 1
        current.full_clean()
        current.save()
        course_dates_sync(course)
        _session_audit(
            course=course,
            session=current,
            by=by,
            request=request,
            what="moved",
            changes=changes,
            version=current.version,
        )
        if not current.is_cancelled and max(before[1], current.ends_at) > timezone.now():
            outbox.notify_session_changed(
                current, kind=Message.Kind.SESSION_MOVED, by=by, request=request, old=before
            )
    return current, changes


@transaction.atomic
def session_cancel(*, session, reason, by, request=None):
    """Cancel one session with a reason. It stays on the course, struck through;
    enrolments are not touched."""
    course = locked_course(session.course)
    _refuse_if_archived(course)
    current = Session.objects.select_for_update().get(pk=session.pk)
    if current.is_cancelled:
        return current
    if current.attendances.exists():
        raise SessionError(
            _(
                "Attendance has been marked for this session: it was held and cannot be "
                "cancelled. Correct the marks in the roll call if needed."
            )
        )
    current.is_cancelled = True
    current.cancelled_reason = reason
    current.cancelled_at = timezone.now()
    current.version += 1
    current.save()
    course_dates_sync(course)
    _session_audit(
        course=course, session=current, by=by, request=request, what="cancelled", reason=reason
    )
    if not current.has_started:
        outbox.notify_session_changed(
            current, kind=Message.Kind.SESSION_CANCELLED, by=by, request=request
        )
    return current


@transaction.atomic
def course_update(*, course, data, by, request=None, version=None):
    """Change a course. Raising the capacity promotes from the waiting list;
    lowering it below the number enrolled is refused. `version` is the version
    the edit form was opened on: if the course has changed since,
    EditConflict is raised and nothing is saved."""
    current = locked_course(course)
    check_version((current, version), actions=[AuditEvent.Action.COURSE_CHANGED])
    taken = current.enrollments.taking_a_place().count()
    if "capacity" in data and data["capacity"] < taken:
        raise ValidationError(
            {
                "capacity": _(
                    "%(taken)s participants are enrolled: the capacity cannot be lower. "
                    "Cancel enrolments first."
                )
                % {"taken": taken}
            }
        )
    changes = changes_apply(current, data, COURSE_FIELDS)
    if changes:
        current.version += 1
        current.full_clean()
        current.save()
        audit_event_create(
            action=AuditEvent.Action.COURSE_CHANGED,
            by=by,
            target=current,
            request=request,
            detail={"changes": changes, "version": current.version},
        )
        if "is_cancelled" in changes and current.is_cancelled and not current.is_past:
            outbox.notify_course_cancelled(current, by=by, request=request)
        if not current.is_past and not current.is_cancelled:
            _promote_from_waitlist(course=current, by=by, request=request)
    return current, changes


@transaction.atomic
def enrollment_create(*, customer, course, source, by, request=None):
    """Enrol a customer: a place if there is one, else the end of the waiting
    list. Not a customer whose processing is restricted."""
    # The customer's row first, then the course's: the order a merge takes
    # them in (customer_merge locks both records, its enrolment handler the
    # courses), so an enrolment and a merge of the same customer wait for each
    # other. A customer merged away or erased meanwhile is gone by then.
    customer = Customer.objects.select_for_update().filter(pk=customer.pk).first()
    if customer is None:
        raise EnrollmentError(
            _(
                "This customer is no longer in the register: the record was merged into "
                "another one or erased. Search for the customer again."
            )
        )
    if customer.restricted_since is not None:
        # GDPR art. 18: while restricted, the data is only stored. The
        # enrolments the customer has stay as they are.
        raise EnrollmentError(
            _(
                "Processing of %(name)s's data is restricted (since %(date)s): the customer "
                "cannot be enrolled until the register manager lifts the restriction."
            )
            % {"name": customer.full_name, "date": restricted_since_text(customer)}
        )
    course = locked_course(course)
    _refuse_if_archived(course)
    if course.is_cancelled:
        raise EnrollmentError(_("The course has been cancelled."))
    enrollment = Enrollment.objects.filter(customer=customer, course=course).first()
    if enrollment and enrollment.status != Enrollment.Status.CANCELLED:
        raise EnrollmentError(
            _("%(name)s is already on this course (%(status)s).")
            % {"name": customer.full_name, "status": enrollment.get_status_display().lower()}
        )
    full = course.enrollments.taking_a_place().count() >= course.capacity
    now = timezone.now()
    if enrollment is None:
        enrollment = Enrollment(customer=customer, course=course, enrolled_at=now)
    enrollment.status = Enrollment.Status.WAITLISTED if full else Enrollment.Status.ENROLLED
    enrollment.source = source
    enrollment.status_changed_at = now
    enrollment.save()
    # Enrolling is activity of the customer (the retention period starts again).
    Customer.objects.filter(pk=customer.pk).mark_active(now)
    audit_event_create(
        action=AuditEvent.Action.ENROLLED,
        by=by,
        target=customer,
        request=request,
        detail={"course_id": course.pk, "status": enrollment.status, "source": source},
    )
    outbox.notify_enrolled(
        enrollment, by=by, request=request, position=waitlist_position(enrollment)
    )
    return enrollment


def _cancel(enrollment, *, course, by, request):
    """Cancel a locked enrolment on the locked course, audited."""
    _set_status(enrollment, Enrollment.Status.CANCELLED)
    audit_event_create(
        action=AuditEvent.Action.ENROLLMENT_CANCELLED,
        by=by,
        target=enrollment.customer,
        request=request,
        detail={"course_id": course.pk},
    )


def _place_freed(course, *, by, request):
    """After cancellations: the freed places go down the waiting list (not
    on a cancelled course). Returns those promoted."""
    if course.is_cancelled:
        return []
    return _promote_from_waitlist(course=course, by=by, request=request)


@transaction.atomic
def places_cancel(*, course, enrollments, by, request=None):
    """Cancel places of people who are gone, as the office cancels a place
    (enrollment_cancel), and pass them on: each locked enrolment of the
    locked `course` cancelled and audited, then the freed places go to the
    first on the waiting list, who are told; the people cancelled are not
    (the erasure's handler and the repair of places an older erasure left
    taken call it). Returns how many were cancelled."""
    cancelled = 0
    for enrollment in enrollments:
        _cancel(enrollment, course=course, by=by, request=request)
        cancelled += 1
    _place_freed(course, by=by, request=request)
    return cancelled


@transaction.atomic
def enrollment_cancel(*, enrollment, by, request=None):
    """Cancel an enrolment; a freed place goes to the first on the waiting list."""
    course = locked_course(enrollment.course)
    _refuse_if_archived(course)
    enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
    if enrollment.status == Enrollment.Status.CANCELLED:
        return enrollment, []
    _cancel(enrollment, course=course, by=by, request=request)
    outbox.notify_enrollment_cancelled(enrollment, by=by, request=request)
    return enrollment, _place_freed(course, by=by, request=request)


_STATUS_RANK = {
    Enrollment.Status.ENROLLED: 2,
    Enrollment.Status.WAITLISTED: 1,
    Enrollment.Status.CANCELLED: 0,
}


@erasure_handler("courses.enrollment")
def _erase_enrollments(erasure):
    """An enrolment holds no personal data of its own: when the customer row
    goes it stays without the person (SET_NULL), so the course's numbers
    stay true, and so does its attendance (courses.Attendance points at the
    enrolment, not at the customer), so each session's count stays true too.

    A place on a course that is not over, or one in its queue, is of no use
    to someone who is gone: it is cancelled as enrollment_cancel cancels it
    (the course locked, after the customers the erasure locked first, as an
    enrolment locks them; audited; the freed place to the first on the
    waiting list, who is told), but the erased are not told. The places of
    all the customers erased together go first, so that none of them is
    given another's place on the way out. Past courses keep their places:
    the archive and the statistics stay true."""
    course_ids = (
        Enrollment.objects.filter(customer__in=erasure.customers, course__ends_at__gte=erasure.at)
        .exclude(status=Enrollment.Status.CANCELLED)
        .values_list("course", flat=True)
        .distinct()
        .order_by("course")
    )
    for course_id in list(course_ids):
        course = Course.objects.select_for_update().get(pk=course_id)
        if course.is_past:
            continue  # over meanwhile: its list is the archive
        enrollments = (
            Enrollment.objects.select_for_update()
            .filter(course=course, customer__in=erasure.customers)
            .exclude(status=Enrollment.Status.CANCELLED)
            .select_related("customer")
            .order_by("pk")
        )
        places_cancel(
            course=course, enrollments=enrollments, by=erasure.by, request=erasure.request
        )


@erasure_handler("courses.session")
def _erase_from_sessions(erasure):
    """The reason typed when a session was cancelled may name the person
    ("Hilkka Virtanen booked the hall"): scrubbed in every session, as the
    texts of messages are. A session's place ("Hilkka Virtanen's home") as
    a course's is (_erase_from_courses). Versions raised."""
    reasons = Session.objects.exclude(cancelled_reason="")
    erasure.scrub_rows(reasons, ("cancelled_reason",), versioned=True)
    own = erasure.computed(_own_courses)
    places = Session.objects.exclude(location="")
    erasure.scrub_rows(places.filter(course__in=own), ("location",), versioned=True)
    erasure.scrub_rows(
        places.exclude(course__in=own),
        ("location",),
        versioned=True,
        scrub=erasure.scrub_full_name,
    )


@erasure_handler("courses.course")
def _erase_from_courses(erasure):
    """A course of the person's own (every place on it theirs: private
    lessons, "Yksityisohjaus: Hilkka Virtanen") is about them: its title,
    description and place lose every part of the name and the address, as
    their record does. Any other course, past ones too, is about many
    people: its texts lose only the person's full name, email and phone
    (Erasure.scrub_full_name), since a part of a name or an address there
    would hit other words ("Satujooga" for Satu, "Pilates, Lahti" for
    Lahti) and the archive must stay true. Versions raised."""
    fields = ("title", "description", "location")
    own = erasure.computed(_own_courses)
    erasure.scrub_rows(Course.objects.filter(pk__in=own), fields, versioned=True)
    erasure.scrub_rows(
        Course.objects.exclude(pk__in=own), fields, versioned=True, scrub=erasure.scrub_full_name
    )


def _own_courses(erasure):
    """The ids of the courses every place of which is held by the customers
    erased (a place left by someone erased earlier is someone else's). Read
    once per erasure (Erasure.computed), for the sessions' and the courses'
    handlers: the handlers between them change no place's holder."""
    theirs = set(
        Enrollment.objects.filter(customer__in=erasure.customers).values_list("course", flat=True)
    )
    shared = Enrollment.objects.filter(course__in=theirs).exclude(customer__in=erasure.customers)
    return theirs - set(shared.values_list("course", flat=True))


@typed_text_pruner(
    "session_reasons", label="Cancelled sessions' reasons, of courses over before the limit"
)
def _prune_session_reasons(*, before, dry_run=False):
    """The reason typed when a session was cancelled may name someone whom
    no erasure reaches (an instructor, a relative, a hall's booker): kept as
    long as the trail keeps what users typed (AUDIT_KEEP_MONTHS; manage.py
    prune_logs), counted from the end of the course, so that it stays while
    the course runs and is shown on its page. Then ERASED takes its place;
    that the session was cancelled, and when, stays. The version is not
    raised: no form edits the reason, and a course over is not edited."""
    due = Session.objects.filter(course__ends_at__lt=before, is_cancelled=True).exclude(
        cancelled_reason__in=["", ERASED]
    )
    return due.count() if dry_run else due.update(cancelled_reason=ERASED)


@merge_handler("courses.enrollment")
def _merge_enrollments(*, keep, remove):
    """Move the removed record's enrolments. Where both records were on the
    same course, the better status stays, the attendance of both is kept
    (where both were marked for one session, "came" wins), and a place freed
    by the duplicate goes to the waiting list."""
    for duplicate in Enrollment.objects.filter(
        customer=remove, course__enrollments__customer=keep
    ):
        kept = Enrollment.objects.get(customer=keep, course=duplicate.course)
        if _STATUS_RANK[duplicate.status] > _STATUS_RANK[kept.status]:
            kept.status = duplicate.status
            kept.save(update_fields=["status"])
        kept_marks = {a.session_id: a for a in kept.attendances.all()}
        for mark in duplicate.attendances.all():
            other = kept_marks.get(mark.session_id)
            if other is None:
                mark.enrollment = kept
                mark.save(update_fields=["enrollment"])
                continue
            if mark.status == Attendance.Status.CAME and other.status != mark.status:
                other.status = mark.status
                other.save(update_fields=["status"])
            mark.delete()
        course = locked_course(duplicate.course)
        duplicate.delete()
        if not course.is_past:
            _promote_from_waitlist(course=course, by=None, request=None)
    Enrollment.objects.filter(customer=remove).update(customer=keep)
