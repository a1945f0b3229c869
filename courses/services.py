"""Writes of courses and enrolments: keyword-only, atomic, audited (`by=`).

Every write that depends on how many places are taken locks the course row
first (SELECT ... FOR UPDATE on PostgreSQL; SQLite takes its write lock when
the transaction begins), so two staff members enrolling the last place at
the same moment never both succeed. An enrolment locks its customer's row
before that, as a merge does.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.changes import changes_apply
from registry.concurrency import check_version
from registry.erasure import erasure_handler
from registry.merge import merge_handler
from registry.models import Customer
from registry.phones import format_phone

from .models import Course, Enrollment

COURSE_FIELDS = (
    "title",
    "description",
    "starts_at",
    "ends_at",
    "location",
    "instructor",
    "capacity",
    "is_cancelled",
)


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


@transaction.atomic
def course_create(*, data, by, request=None):
    course = Course(**{field: data[field] for field in COURSE_FIELDS if field in data})
    course.full_clean()
    course.save()
    audit_event_create(
        action=AuditEvent.Action.COURSE_CREATED, by=by, target=course, request=request
    )
    return course


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
    promoted = (
        []
        if course.is_cancelled
        else _promote_from_waitlist(course=course, by=by, request=request)
    )
    return enrollment, promoted


@transaction.atomic
def attendance_mark(*, course, attended_ids, by, request=None, shown=None):
    """Set who attended: the enrolled ones whose ids are given attended, the
    other enrolled ones did not. Only after the course has started.

    `shown` is {enrolment id: status} as the user's list showed them. With it,
    only the rows the user changed are written: the instructor and the office
    may tick the same list at once, and a mark someone else saved meanwhile
    on another row stays (a row that was not on the list is left alone)."""
    course = _locked(course)
    if not course.has_started:
        raise EnrollmentError(_("Attendance can be marked once the course has started."))
    changed = []
    for enrollment in course.enrollments.taking_a_place().select_related("customer"):
        attended = enrollment.pk in attended_ids
        status = Enrollment.Status.ATTENDED if attended else Enrollment.Status.ENROLLED
        if shown is not None and shown.get(enrollment.pk) in (None, status):
            continue  # not on the user's list, or left as it was shown
        if enrollment.status != status:
            _set_status(enrollment, status)
            changed.append(enrollment)
    if changed:
        audit_event_create(
            action=AuditEvent.Action.ATTENDANCE_MARKED,
            by=by,
            target=course,
            request=request,
            detail={
                "attended": sorted(
                    e.pk for e in changed if e.status == Enrollment.Status.ATTENDED
                ),
                "not_attended": sorted(
                    e.pk for e in changed if e.status == Enrollment.Status.ENROLLED
                ),
            },
        )
    return changed


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
        .order_by("-status", "status_changed_at", "id")
    )


@transaction.atomic
def participant_list_export(*, course, columns, purpose, file_format, by, request=None):
    """Audit the export of a participant list; return (rows, count)."""

    enrollments = list(participants(course).exclude(customer=None))
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
    return rows, len(enrollments)


_STATUS_RANK = {
    Enrollment.Status.ATTENDED: 3,
    Enrollment.Status.ENROLLED: 2,
    Enrollment.Status.WAITLISTED: 1,
    Enrollment.Status.CANCELLED: 0,
}


@erasure_handler("courses.enrollment")
def _erase_enrollments(erasure):
    """Nothing to remove: an enrolment holds no personal data of its own, and
    when the customer row goes it stays without the person (SET_NULL), so the
    course's numbers stay true."""


@merge_handler("courses.enrollment")
def _merge_enrollments(*, keep, remove):
    """Move the removed record's enrolments. Where both records were on the
    same course, the better status stays, and a place freed by the duplicate
    goes to the waiting list."""
    for duplicate in Enrollment.objects.filter(
        customer=remove, course__enrollments__customer=keep
    ):
        kept = Enrollment.objects.get(customer=keep, course=duplicate.course)
        if _STATUS_RANK[duplicate.status] > _STATUS_RANK[kept.status]:
            kept.status = duplicate.status
            kept.save(update_fields=["status"])
        course = _locked(duplicate.course)
        duplicate.delete()
        if not course.is_past:
            _promote_from_waitlist(course=course, by=None, request=None)
    Enrollment.objects.filter(customer=remove).update(customer=keep)
