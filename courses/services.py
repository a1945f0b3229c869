"""Writes of courses and enrolments: keyword-only, atomic, audited (`by=`).

Every write that depends on how many places are taken locks the course row
first (SELECT ... FOR UPDATE on PostgreSQL; SQLite takes its write lock when
the transaction begins), so two staff members enrolling the last place at
the same moment never both succeed. An enrolment locks its customer's row
before that, as a merge does.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.changes import changes_apply
from registry.concurrency import check_version
from registry.erasure import erasure_handler
from registry.merge import merge_handler
from registry.models import Customer
from registry.phones import format_phone

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


def _locked(course):
    return Course.objects.select_for_update().get(pk=course.pk)


def _promote_from_waitlist(*, course, by, request):
    """Give free places to the first on the waiting list, in queue order."""
    free = course.capacity - course.enrollments.taking_a_place().count()
    promoted = []
    for enrollment in course.enrollments.waitlist()[: max(free, 0)]:
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
    course = _locked(course)
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
    course = _locked(session.course)
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
    course = _locked(session.course)
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
    current = _locked(course)
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
    """Enrol a customer: a place if there is one, else the end of the waiting list."""
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
    course = _locked(course)
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
    Customer.objects.filter(pk=customer.pk).update(last_activity_at=now)
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


@transaction.atomic
def enrollment_cancel(*, enrollment, by, request=None):
    """Cancel an enrolment; a freed place goes to the first on the waiting list."""
    course = _locked(enrollment.course)
    _refuse_if_archived(course)
    enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
    if enrollment.status == Enrollment.Status.CANCELLED:
        return enrollment, []
    _set_status(enrollment, Enrollment.Status.CANCELLED)
    audit_event_create(
        action=AuditEvent.Action.ENROLLMENT_CANCELLED,
        by=by,
        target=enrollment.customer,
        request=request,
        detail={"course_id": course.pk},
    )
    outbox.notify_enrollment_cancelled(enrollment, by=by, request=request)
    promoted = (
        []
        if course.is_cancelled
        else _promote_from_waitlist(course=course, by=by, request=request)
    )
    return enrollment, promoted


#: An attendance status as a row of the roll call shows it; "" is not marked.
NOT_MARKED = ""


@dataclass
class RollCallSaved:
    """What a roll call's save did: the rows changed ({enrolment id: [old,
    new]}) and the enrolments whose mark someone else changed after the
    user's list was shown (their mark was kept, not overwritten)."""

    changes: dict
    conflicts: list


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
    active at the session's start (retention starts again)."""
    course = _locked(session.course)
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
    changes, came_customers, conflicts = {}, [], []
    to_create, to_update = [], []
    for enrollment in course.enrollments.taking_a_place():
        status = marks.get(enrollment.pk)
        if status not in valid:
            continue  # not on the list, or left unmarked
        old = existing.get(enrollment.pk)
        old_status = old.status if old else NOT_MARKED
        if shown is not None and shown.get(enrollment.pk, status) == status:
            continue  # left as it was shown (or not on the user's list)
        if old_status == status:
            continue
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
        # Coming to a session is the customer's activity (registry.rights retention).
        Customer.objects.filter(
            pk__in=came_customers, last_activity_at__lt=session.starts_at
        ).update(last_activity_at=session.starts_at)
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
    return RollCallSaved(changes=changes, conflicts=conflicts)


def _attendance_by_enrollment(course, sessions):
    """{enrolment id: {session id: status}} for the sessions given (one query)."""
    table = {}
    for enrollment_id, session_id, status in Attendance.objects.filter(
        session__in=sessions
    ).values_list("enrollment_id", "session_id", "status"):
        table.setdefault(enrollment_id, {})[session_id] = status
    return table


def roll_call(session):
    """The roll call of a session: (enrolment, status or "") for everyone with
    a place, always in the same order (last name, first name; erased last), so
    that no row moves when the list is saved. Two queries."""
    marks = dict(session.attendances.values_list("enrollment_id", "status"))
    return [
        (enrollment, marks.get(enrollment.pk, NOT_MARKED))
        for enrollment in participants_in_order(session.course)
    ]


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


def attendance_grid(course):
    """Participants x sessions for the staff's grid and the export: (sessions,
    rows, totals). Each row is (enrolment, [status per session], came, of):
    "came 7 of 10" counts the sessions held so far (not cancelled, started).
    totals is, per session, how many came. A constant number of queries."""
    sessions = list(course.sessions.order_by("starts_at", "id"))
    now = timezone.now()
    held = [s for s in sessions if not s.is_cancelled and s.starts_at <= now]
    table = _attendance_by_enrollment(course, sessions)
    rows = []
    for enrollment in participants_in_order(course, with_marked=True):
        marks = table.get(enrollment.pk, {})
        came = sum(1 for s in held if marks.get(s.pk) == Attendance.Status.CAME)
        rows.append((enrollment, [marks.get(s.pk, NOT_MARKED) for s in sessions], came, len(held)))
    totals = [
        sum(1 for row in rows if row[1][index] == Attendance.Status.CAME)
        for index in range(len(sessions))
    ]
    return sessions, rows, totals


def participants_in_order(course, *, with_marked=False):
    """Everyone with a place on the course, in the roll call's fixed order.
    `with_marked` adds those who left the course (cancelled) after they were
    marked, so that each session's count in the grid stays true."""
    enrollments = course.enrollments.taking_a_place()
    if with_marked:
        marked = Attendance.objects.filter(enrollment__course=course).values("enrollment_id")
        enrollments = course.enrollments.filter(
            models.Q(status__in=Enrollment.TAKING_A_PLACE) | models.Q(pk__in=marked)
        )
    return enrollments.select_related("customer").order_by(
        models.F("customer__last_name").asc(nulls_last=True),
        "customer__first_name",
        "id",
    )


#: Columns of a participant list, and what each needs to be shown.
PARTICIPANT_COLUMNS = {
    "first_name": (_("first name"), None),
    "last_name": (_("last name"), None),
    "status": (_("status"), None),
    "enrolled_at": (_("enrolled"), None),
    "email": (_("email"), "courses.view_participant_contacts"),
    "phone": (_("phone"), "courses.view_participant_contacts"),
}
DEFAULT_PARTICIPANT_COLUMNS = ("first_name", "last_name", "status")


def participant_columns_for(user):
    return [
        name
        for name, (_label, permission) in PARTICIPANT_COLUMNS.items()
        if permission is None or user.has_perm(permission)
    ]


def participants(course):
    """Who is on the course, enrolled first, then the waiting list in queue order."""
    return (
        course.enrollments.exclude(status=Enrollment.Status.CANCELLED)
        .select_related("customer")
        .order_by(
            models.Case(
                models.When(status=Enrollment.Status.WAITLISTED, then=1),
                default=0,
            ),
            "status_changed_at",
            "id",
        )
    )


def attendance_export_header(course):
    """The extra columns of an export with attendance: one per session (its
    date, "cancelled" after a cancelled one) and the total."""
    header = []
    for session in course.sessions.order_by("starts_at", "id"):
        label = formats.date_format(timezone.localtime(session.starts_at), "SHORT_DATE_FORMAT")
        header.append(f"{label} ({_('cancelled')})" if session.is_cancelled else label)
    return [*header, _("Came (times)")]


def _attendance_cells(course, enrollments):
    """{enrolment id: [status per session as words, "came/held"]}: three queries."""
    sessions = list(course.sessions.order_by("starts_at", "id"))
    now = timezone.now()
    held = [s for s in sessions if not s.is_cancelled and s.starts_at <= now]
    table = _attendance_by_enrollment(course, sessions)
    words = dict(Attendance.Status.choices)
    cells = {}
    for enrollment in enrollments:
        marks = table.get(enrollment.pk, {})
        row = [str(words.get(marks.get(s.pk), "")) for s in sessions]
        if enrollment.status in Enrollment.TAKING_A_PLACE:
            came = sum(1 for s in held if marks.get(s.pk) == Attendance.Status.CAME)
            row.append(f"{came}/{len(held)}")
        else:
            row.append("")
        cells[enrollment.pk] = row
    return cells


@transaction.atomic
def participant_list_export(
    *, course, columns, purpose, file_format, by, request=None, attendance=False, waitlist=True
):
    """Audit the export of a participant list; return (rows, count). Those
    with a place come first, then the waiting list in queue order (left out
    without `waitlist`). With `attendance`, each row ends with one column per
    session (came, didn't come, reported absence) and the times the
    participant came (attendance_export_header gives their titles)."""

    enrollments = participants(course).exclude(customer=None)
    if not waitlist:
        enrollments = enrollments.exclude(status=Enrollment.Status.WAITLISTED)
    enrollments = list(enrollments)
    audit_event_create(
        action=AuditEvent.Action.PARTICIPANT_LIST_EXPORTED,
        by=by,
        target=course,
        request=request,
        detail={
            "columns": list(columns),
            "rows": len(enrollments),
            "purpose": purpose,
            "format": file_format,
            "attendance": attendance,
            "waitlist": waitlist,
        },
    )

    def value(enrollment, column):
        if column == "status":
            return enrollment.get_status_display()
        if column == "enrolled_at":
            return timezone.localtime(enrollment.enrolled_at).strftime("%d.%m.%Y %H:%M")
        raw = getattr(enrollment.customer, column)
        return format_phone(raw) if column == "phone" else raw

    rows = [[value(e, column) for column in columns] for e in enrollments]
    if attendance:
        cells = _attendance_cells(course, enrollments)
        rows = [row + cells[e.pk] for row, e in zip(rows, enrollments, strict=True)]
    return rows, len(enrollments)


_STATUS_RANK = {
    Enrollment.Status.ENROLLED: 2,
    Enrollment.Status.WAITLISTED: 1,
    Enrollment.Status.CANCELLED: 0,
}


@erasure_handler("courses.enrollment")
def _erase_enrollments(erasure):
    """Nothing to remove: an enrolment holds no personal data of its own, and
    when the customer row goes it stays without the person (SET_NULL), so the
    course's numbers stay true. Its attendance (courses.Attendance points at
    the enrolment, not at the customer) stays with it, so each session's
    count stays true too."""


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
        course = _locked(duplicate.course)
        duplicate.delete()
        if not course.is_past:
            _promote_from_waitlist(course=course, by=None, request=None)
    Enrollment.objects.filter(customer=remove).update(customer=keep)
