"""Attendance: the roll call of one session, its save, and the grid of a
course (participants x sessions). Writes lock the course as every write of
courses.services does."""

from dataclasses import dataclass, field

from django.core.paginator import Paginator
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.models import Customer

from .models import Attendance, Enrollment, Session
from .services import EnrollmentError, locked_course

#: An attendance status as a row of the roll call shows it; "" is not marked.
NOT_MARKED = ""
#: Rows of the roll call and of the attendance grid per page: a group fits on
#: one page; a lecture of thousands is called and shown a page at a time, so
#: that neither page grows with it.
ATTENDANCE_PER_PAGE = 100


@dataclass
class RollCallSaved:
    """What a roll call's save did: the rows changed ({enrolment id: [old,
    new]}), the enrolments whose mark someone else changed after the
    user's list was shown (their mark was kept, not overwritten), and the
    customers whose processing is restricted (their mark was not recorded)."""

    changes: dict
    conflicts: list
    restricted: list = field(default_factory=list)


@transaction.atomic
def attendance_save(*, session, marks, by, request=None, shown=None):
    """Save a session's roll call: `marks` is {enrolment id: status}. Only after
    the session has started; a past session can be corrected (also in the
    archive). Audited, with what changed.

    `shown` is {enrolment id: status as the user's list showed it} ("" when
    unmarked). With it, only the rows the user changed are written: the
    instructor and the office may mark the same session at once, and a mark
    someone else saved meanwhile on another row stays. Rows not on the list
    (enrolled since) are left alone. A customer marked as came has been
    active at the session's start (retention starts again).

    No attendance is recorded for a participant whose processing is
    restricted (GDPR art. 18: the data is only stored): a mark that would
    change their row is left out and they are named (`restricted`), while
    the others' marks are saved, so nothing the user marked for them is
    lost. The roll call offers no choice on their row; this holds against a
    list shown before the restriction and a post made by hand."""
    course = locked_course(session.course)
    session = Session.objects.select_for_update().get(pk=session.pk)
    if session.course_id != course.pk:  # pragma: no cover - the views look the session up
        raise EnrollmentError(_("The session is not on this course."))
    if session.is_cancelled:
        raise EnrollmentError(_("The session was cancelled: there is no attendance to mark."))
    if not session.has_started:
        raise EnrollmentError(_("Attendance can be marked once the session has started."))
    valid = set(Attendance.Status.values)
    existing = {a.enrollment_id: a for a in session.attendances.all()}
    now = timezone.now()
    changes, came_customers, conflicts, restricted = {}, [], [], []
    to_create, to_update = [], []
    # Only the rows marked: a lecture's roll call is saved a page at a time.
    for enrollment in (
        course.enrollments.taking_a_place().filter(pk__in=list(marks)).select_related("customer")
    ):
        status = marks.get(enrollment.pk)
        if status not in valid:
            continue  # not on the list, or left unmarked
        old = existing.get(enrollment.pk)
        old_status = old.status if old else NOT_MARKED
        if old_status == status:
            continue
        if enrollment.is_restricted:
            # Whatever the list showed: no choice is offered on their row.
            restricted.append(enrollment.customer)
            continue
        if shown is not None and shown.get(enrollment.pk, status) == status:
            continue  # left as it was shown (or not on the user's list)
        if shown is not None and shown[enrollment.pk] != old_status:
            conflicts.append(enrollment)  # someone else marked it meanwhile: theirs stays
            continue
        if old is None:
            to_create.append(
                Attendance(
                    session=session,
                    enrollment=enrollment,
                    status=status,
                    marked_by=by,
                    marked_at=now,
                )
            )
        else:
            old.status, old.marked_by, old.marked_at = status, by, now
            to_update.append(old)
        changes[str(enrollment.pk)] = [old_status, status]
        if status == Attendance.Status.CAME and enrollment.customer_id:
            came_customers.append(enrollment.customer_id)
    Attendance.objects.bulk_create(to_create)
    Attendance.objects.bulk_update(to_update, ["status", "marked_by", "marked_at"])
    if came_customers:
        # Coming to a session is the customer's activity (registry.rights
        # retention), at its start; mark_active passes over one restricted in
        # the moment since their row was read above.
        Customer.objects.filter(pk__in=came_customers).mark_active(session.starts_at)
    if changes:
        audit_event_create(
            action=AuditEvent.Action.ATTENDANCE_MARKED,
            by=by,
            target=course,
            request=request,
            detail={
                "session_id": session.pk,
                "session_starts_at": session.starts_at.isoformat(),
                "correction": session.ends_at < now,
                "changes": changes,
            },
        )
    return RollCallSaved(changes=changes, conflicts=conflicts, restricted=restricted)


def attendance_by_enrollment(sessions, enrollments=None):
    """{enrolment id: {session id: status}} for the sessions given, of the
    enrolments given or everybody's (one query)."""
    marks = Attendance.objects.filter(session__in=sessions)
    if enrollments is not None:
        marks = marks.filter(enrollment__in=enrollments)
    table = {}
    for enrollment_id, session_id, status in marks.values_list(
        "enrollment_id", "session_id", "status"
    ):
        table.setdefault(enrollment_id, {})[session_id] = status
    return table


def roll_call(session, page_number=None, *, enrollment_ids=None):
    """A page of the roll call of a session: (page, rows), each row
    (enrolment, status or "") for someone with a place, always in the same
    order (PARTICIPANT_ORDER: last name, first name; erased last), so that
    no row moves when the list is saved. A constant number of queries,
    ATTENDANCE_PER_PAGE rows.

    `enrollment_ids` gives the rows a saved list showed instead of a page
    (the page could have shifted meanwhile); then the page is None."""
    participants = participants_in_order(session.course)
    page = None
    if enrollment_ids is None:
        page = Paginator(participants, ATTENDANCE_PER_PAGE).get_page(page_number)
        enrollments = list(page.object_list)
    else:
        enrollments = list(participants.filter(pk__in=list(enrollment_ids)))
    marks = dict(
        session.attendances.filter(enrollment__in=enrollments).values_list(
            "enrollment_id", "status"
        )
    )
    return page, [(enrollment, marks.get(enrollment.pk, NOT_MARKED)) for enrollment in enrollments]


def session_to_mark(course, now=None):
    """The session a roll call opens on: today's (the first of today not
    cancelled), else the latest that has started, else None."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    sessions = course.sessions.held()
    todays = sessions.filter(starts_at__date=today).order_by("starts_at", "id").first()
    if todays is not None:
        return todays
    return sessions.started(now).order_by("-starts_at", "-id").first()


def attendance_grid_page(course, page_number=None):
    """Participants x sessions, a page of ATTENDANCE_PER_PAGE rows:
    (sessions, page, rows, totals). Each row is (enrolment, [status per
    session], came, of): "came 7 of 10" counts the sessions held so far (not
    cancelled, started). totals is, per session, how many came, counting
    everybody's marks, not only the page's. A constant number of queries."""
    sessions = list(course.sessions.order_by("starts_at", "id"))
    page = Paginator(
        participants_in_order(course, with_marked=True), ATTENDANCE_PER_PAGE
    ).get_page(page_number)
    enrollments = list(page.object_list)
    table = attendance_by_enrollment(sessions, enrollments)
    return sessions, page, _grid_rows(sessions, enrollments, table), came_per_session(sessions)


def _grid_rows(sessions, enrollments, table):
    now = timezone.now()
    held = [s for s in sessions if not s.is_cancelled and s.starts_at <= now]
    rows = []
    for enrollment in enrollments:
        marks = table.get(enrollment.pk, {})
        came = sum(1 for s in held if marks.get(s.pk) == Attendance.Status.CAME)
        rows.append((enrollment, [marks.get(s.pk, NOT_MARKED) for s in sessions], came, len(held)))
    return rows


def came_per_session(sessions):
    """How many came to each session, in the order given (one query). Every
    mark of a session is of someone on its course, so this is the grid's
    column count over everybody, including those who left after a mark."""
    came = dict(
        Attendance.objects.filter(session__in=sessions, status=Attendance.Status.CAME)
        .values_list("session_id")
        .annotate(count=models.Count("pk"))
        .order_by()
    )
    return [came.get(session.pk, 0) for session in sessions]


def participants_in_order(course, *, with_marked=False):
    """Everyone with a place on the course, by name (PARTICIPANT_ORDER).
    `with_marked` adds those who left the course (cancelled) after they were
    marked, so that each session's count in the grid stays true."""
    enrollments = course.enrollments.taking_a_place()
    if with_marked:
        marked = Attendance.objects.filter(enrollment__course=course).values("enrollment_id")
        enrollments = course.enrollments.filter(
            models.Q(status__in=Enrollment.TAKING_A_PLACE) | models.Q(pk__in=marked)
        )
    return enrollments.select_related("customer").by_name()
