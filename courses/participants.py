"""Participant lists: who is on a course in order, the columns a user may
export, and the audited export (with attendance, one column per session)."""

from django.db import models, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create, link_shown_customers
from registry.phones import format_phone

from .attendance import attendance_by_enrollment
from .models import PARTICIPANT_ORDER, QUEUE_ORDER, Attendance, Enrollment

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
#: The columns left empty for a participant whose processing is restricted.
CONTACT_COLUMNS = ("email", "phone")


def any_restricted(enrollments):
    """Whether a list shows anyone whose processing is restricted (its note)."""
    return any(enrollment.is_restricted for enrollment in enrollments)


def participant_list_viewed(
    *, course, customer_ids, by, request, view=None, session_id=None, page=None, audience=None
):
    """Audit a participant list shown on a page (the course page, roll call,
    the attendance grid, a message's preview), in the page's transaction.
    The event says how many customers the page showed (`rows`, as a page of
    the customer list does: the unusual-activity alert and the access review
    count them) and is linked to each of them in one INSERT. An erased
    participant's row names nobody and is not counted. The details are codes
    and numbers only, written key by key (the erasure's audit check reads them)."""
    shown = list(dict.fromkeys(pk for pk in customer_ids if pk is not None))
    detail = {"rows": len(shown)}
    if view is not None:
        detail["view"] = view
    if session_id is not None:
        detail["session_id"] = session_id
    if page is not None:
        detail["page"] = page
    if audience is not None:
        detail["audience"] = audience
    event = audit_event_create(
        action=AuditEvent.Action.PARTICIPANT_LIST_VIEWED,
        by=by,
        target=course,
        request=request,
        detail=detail,
    )
    link_shown_customers(event, shown)
    return event


def participant_columns_for(user):
    return [
        name
        for name, (_label, permission) in PARTICIPANT_COLUMNS.items()
        if permission is None or user.has_perm(permission)
    ]


def participants(course):
    """Who is on the course: those with a place by name (PARTICIPANT_ORDER),
    then the waiting list in its queue order (QUEUE_ORDER). One query, so
    one moment: a place given from the queue meanwhile is neither missed nor
    listed twice."""
    waiting = models.Q(status=Enrollment.Status.WAITLISTED)
    return (
        course.enrollments.exclude(status=Enrollment.Status.CANCELLED)
        .select_related("customer")
        .order_by(
            models.Case(models.When(waiting, then=1), default=0),
            # Only the waiting list has these; the places tie on them.
            *(models.Case(models.When(waiting, then=models.F(key))) for key in QUEUE_ORDER),
            *PARTICIPANT_ORDER,
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
    table = attendance_by_enrollment(sessions)
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
    """Audit the export of a participant list, linking each participant in
    it to the event (AuditEventCustomer); return (rows, count). A
    participant whose processing is restricted has empty contact columns and
    the restriction after the status. Those with a place come first, by
    name, then the waiting list in queue order (left out without
    `waitlist`): participants(). With `attendance`, each row ends with one
    column per session (came, didn't come, reported absence) and the times
    the participant came (attendance_export_header gives their titles)."""

    enrollments = participants(course).exclude(customer=None)
    if not waitlist:
        enrollments = enrollments.exclude(status=Enrollment.Status.WAITLISTED)
    enrollments = list(enrollments)
    event = audit_event_create(
        action=AuditEvent.Action.PARTICIPANT_LIST_EXPORTED,
        by=by,
        target=course,
        request=request,
        detail={
            # The title then, for the participants' own trail and access
            # report ("Participant list of ... exported"): a course is renamed.
            "course": course.title,
            "columns": list(columns),
            "rows": len(enrollments),
            "purpose": purpose,
            "format": file_format,
            "attendance": attendance,
            "waitlist": waitlist,
        },
    )
    # Whom the file names: one INSERT of the ids already read, the very rows
    # written (an INSERT ... SELECT could see an enrolment made meanwhile).
    link_shown_customers(event, [enrollment.customer_id for enrollment in enrollments])

    def value(enrollment, column):
        restricted = enrollment.is_restricted
        if column == "status":
            status = enrollment.get_status_display()
            if restricted:
                return _("%(status)s (processing restricted)") % {"status": status}
            return status
        if column in CONTACT_COLUMNS and restricted:
            # Only stored while restricted: the file names the place, not how
            # to reach the person.
            return ""
        if column == "enrolled_at":
            return timezone.localtime(enrollment.enrolled_at).strftime("%d.%m.%Y %H:%M")
        raw = getattr(enrollment.customer, column)
        return format_phone(raw) if column == "phone" else raw

    rows = [[value(e, column) for column in columns] for e in enrollments]
    if attendance:
        cells = _attendance_cells(course, enrollments)
        rows = [row + cells[e.pk] for row, e in zip(rows, enrollments, strict=True)]
    return rows, len(enrollments)
