from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.generic import ListView, UpdateView

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.concurrency import EditConflict
from registry.exports import csv_response, xlsx_file_response
from registry.models import Customer

from .call_list import warn_to_call
from .forms import (
    CourseForm,
    CourseListForm,
    EnrollForm,
    EnrolmentSearchForm,
    ParticipantExportForm,
    RollCallForm,
    SeriesForm,
    SessionCancelForm,
    SessionForm,
)
from .models import Attendance, Course, Enrollment
from .services import (
    PARTICIPANT_COLUMNS,
    attendance_export_header,
    attendance_grid,
    attendance_save,
    course_create,
    course_update,
    enrollment_cancel,
    enrollment_create,
    participant_columns_for,
    participant_list_export,
    participants,
    roll_call,
    session_cancel,
    session_create,
    session_to_mark,
    session_update,
    waitlist_position,
)


def visible_course(request, pk):
    """The course if the user may see it; 404 otherwise (not 403: an instructor
    learns nothing about courses that are not theirs)."""
    return get_object_or_404(Course.objects.visible_to(request.user), pk=pk)


class CourseListView(PermissionRequiredMixin, ListView):
    """Upcoming courses, or the archive of past ones: staff see all courses,
    instructors the courses they teach ("My courses")."""

    permission_required = "courses.view_course"
    raise_exception = True
    paginate_by = 50
    template_name = "courses/course_list.html"
    context_object_name = "courses"

    def get_queryset(self):
        courses = Course.objects.visible_to(self.request.user).with_counts()
        courses = courses.select_related("instructor")
        return courses.past() if self.archive else courses.upcoming()

    @cached_property
    def archive(self):
        return CourseListForm(self.request.GET).values()["archive"] == "1"

    def get_context_data(self, **kwargs):
        return super().get_context_data(archive=self.archive, **kwargs)


@permission_required("courses.view_course", raise_exception=True)
@transaction.atomic
def course_detail(request, pk):
    """The participant list: enrolled and waiting list with positions, and the
    actions the user may take. Staff and the course's instructor; viewing is
    audited."""
    course = visible_course(request, pk)
    rows = list(participants(course))
    enrolled = [e for e in rows if e.status in Enrollment.TAKING_A_PLACE]
    waitlist = [e for e in rows if e.status == Enrollment.Status.WAITLISTED]
    query = EnrolmentSearchForm(request.GET).values()["q"]
    candidates = []
    if query and request.user.has_perm("courses.add_enrollment") and not course.is_past:
        already = {e.customer_id for e in rows if e.customer_id}
        # Excluded in the query, so that up to ten others still show.
        candidates = list(
            Customer.objects.search(query).exclude(pk__in=already).ordered("name")[:10]
        )
    audit_event_create(
        action=AuditEvent.Action.PARTICIPANT_LIST_VIEWED,
        by=request.user,
        target=course,
        request=request,
    )
    return render(
        request,
        "courses/course_detail.html",
        {
            "course": course,
            "sessions": list(course.sessions.order_by("starts_at", "id")),
            "session_to_mark": session_to_mark(course),
            "enrolled": enrolled,
            "waitlist": waitlist,
            "show_contacts": request.user.has_perm("courses.view_participant_contacts"),
            "query": query,
            "candidates": candidates,
            "enroll_form": EnrollForm(),
        },
    )


@require_POST
@permission_required("courses.add_enrollment", raise_exception=True)
def enrollment_create_view(request, pk):
    """Enrol a customer (staff): a place if free, else the waiting list."""
    course = visible_course(request, pk)
    form = EnrollForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a customer to enrol."))
        return redirect(course)
    customer = get_object_or_404(Customer, pk=form.cleaned_data["customer"])
    since = timezone.now()
    try:
        enrollment = enrollment_create(
            customer=customer,
            course=course,
            source=form.cleaned_data["source"],
            by=request.user,
            request=request,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(course)
    if enrollment.status == Enrollment.Status.WAITLISTED:
        messages.warning(
            request,
            _("The course is full: %(name)s is number %(position)s on the waiting list.")
            % {"name": customer.full_name, "position": waitlist_position(enrollment)},
        )
    else:
        messages.success(request, _("%(name)s enrolled.") % {"name": customer.full_name})
    warn_to_call(request, since)
    return redirect(course)


@require_POST
@permission_required("courses.change_enrollment", raise_exception=True)
def enrollment_cancel_view(request, pk, enrollment_pk):
    """Cancel an enrolment (staff); the first on the waiting list gets the place."""
    course = visible_course(request, pk)
    enrollment = get_object_or_404(course.enrollments, pk=enrollment_pk)
    since = timezone.now()
    try:
        _cancelled, promoted = enrollment_cancel(
            enrollment=enrollment, by=request.user, request=request
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(course)
    messages.success(request, _("Enrolment cancelled."))
    for moved in promoted:
        messages.info(
            request,
            _("%(name)s got the place from the waiting list.")
            % {"name": moved.customer.full_name if moved.customer else _("(erased)")},
        )
    warn_to_call(request, since)
    return redirect(course)


@permission_required("courses.mark_attendance", raise_exception=True)
@transaction.atomic
def roll_call_view(request, pk, session_pk):
    """The roll call (nimenhuuto) of one session, made for a phone: everyone
    with a place, always in the same order, each row came / didn't come /
    reported absence, saved in one post. Staff, or the course's instructor;
    only once the session has started; a past session can be corrected."""
    course = visible_course(request, pk)
    session = get_object_or_404(course.sessions, pk=session_pk)
    form = RollCallForm(request.POST or None, rows=roll_call(session))
    if request.method == "POST":
        if not form.is_valid():
            messages.error(request, _("The attendance could not be read: nothing was saved."))
            return redirect("courses:roll-call", course.pk, session.pk)
        try:
            changes = attendance_save(
                session=session,
                marks=form.marks(),
                shown=form.cleaned_data["shown"],
                by=request.user,
                request=request,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("courses:roll-call", course.pk, session.pk)
        messages.success(
            request, _("Attendance saved (%(count)s changed).") % {"count": len(changes)}
        )
        return redirect("courses:roll-call", course.pk, session.pk)
    audit_event_create(
        action=AuditEvent.Action.PARTICIPANT_LIST_VIEWED,
        by=request.user,
        target=course,
        request=request,
        detail={"session_id": session.pk},
    )
    sessions = list(course.sessions.order_by("starts_at", "id"))
    index = next(i for i, s in enumerate(sessions) if s.pk == session.pk)
    return render(
        request,
        "courses/roll_call.html",
        {
            "course": course,
            "session": session,
            "form": form,
            "can_mark": session.has_started and not session.is_cancelled,
            "previous": sessions[index - 1] if index > 0 else None,
            "next": sessions[index + 1] if index + 1 < len(sessions) else None,
            "statuses": Attendance.Status.choices,
        },
    )


@permission_required("courses.view_enrollment", raise_exception=True)
@transaction.atomic
def attendance_grid_view(request, pk):
    """Participants x sessions, with how many times each came ("7/10") and
    how many came to each session. Viewing is audited."""
    course = visible_course(request, pk)
    sessions, rows, totals = attendance_grid(course)
    audit_event_create(
        action=AuditEvent.Action.PARTICIPANT_LIST_VIEWED,
        by=request.user,
        target=course,
        request=request,
        detail={"view": "attendance_grid"},
    )
    return render(
        request,
        "courses/attendance_grid.html",
        {
            "course": course,
            "columns": list(zip(sessions, totals, strict=True)),
            "rows": rows,
        },
    )


@permission_required("courses.add_course", raise_exception=True)
def course_create_view(request):
    """Add a course and its sessions (staff and the register manager): the
    first post lists the dates with a tick each so that holidays can be
    unticked, the second saves the ticked ones."""
    form = SeriesForm(request.POST or None)
    if request.method == "POST" and form.confirmed:
        course = course_create(
            data=form.cleaned_data, sessions=form.sessions(), by=request.user, request=request
        )
        messages.success(request, _("Course added."))
        return redirect(course)
    if request.method == "POST" and not form.data.get("confirm") and form.is_valid():
        # The first post: show the dates, every one ticked.
        data = form.data.copy()
        data.setlist("dates", [value for value, _label in form.fields["dates"].choices])
        data["confirm"] = "1"
        form = SeriesForm(data)
    return render(request, "courses/course_form.html", {"form": form})


@permission_required("courses.change_course", raise_exception=True)
def session_create_view(request, pk):
    """Add one session to a course (staff). Enrolments are not touched."""
    course = visible_course(request, pk)
    form = SessionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            session_create(course=course, data=form.cleaned_data, by=request.user, request=request)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Session added."))
            return redirect(course)
    return render(request, "courses/session_form.html", {"course": course, "form": form})


@permission_required("courses.change_course", raise_exception=True)
def session_update_view(request, pk, session_pk):
    """Move one session: its time or place (staff). Enrolments stay."""
    course = visible_course(request, pk)
    session = get_object_or_404(course.sessions, pk=session_pk)
    form = SessionForm(request.POST or None, instance=session)
    since = timezone.now()
    if request.method == "POST" and form.is_valid():
        try:
            _session, changes = session_update(
                session=session,
                data=form.cleaned_data,
                by=request.user,
                request=request,
                version=form.cleaned_data["version"],
            )
        except EditConflict as conflict:
            session = conflict.record
            form = form.after_conflict(conflict)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, _("Session moved.") if changes else _("Nothing was changed.")
            )
            warn_to_call(request, since)
            return redirect(course)
    return render(
        request, "courses/session_form.html", {"course": course, "session": session, "form": form}
    )


@permission_required("courses.change_course", raise_exception=True)
def session_cancel_view(request, pk, session_pk):
    """Cancel one session with a reason (staff): a page of its own, so that
    nothing is cancelled by one click. Enrolments stay."""
    course = visible_course(request, pk)
    session = get_object_or_404(course.sessions, pk=session_pk)
    form = SessionCancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        since = timezone.now()
        session_cancel(
            session=session, reason=form.cleaned_data["reason"], by=request.user, request=request
        )
        messages.success(request, _("Session cancelled."))
        warn_to_call(request, since)
        return redirect(course)
    return render(
        request,
        "courses/session_cancel.html",
        {"course": course, "session": session, "form": form},
    )


class CourseUpdateView(PermissionRequiredMixin, UpdateView):
    """Edit a course (staff). Participants are kept; capacity rules apply."""

    permission_required = "courses.change_course"
    raise_exception = True
    form_class = CourseForm
    template_name = "courses/course_form.html"
    context_object_name = "course"

    def get_queryset(self):
        return Course.objects.visible_to(self.request.user)

    def form_valid(self, form):
        since = timezone.now()
        try:
            course, changes = course_update(
                course=self.object,
                data=form.cleaned_data,
                by=self.request.user,
                request=self.request,
                version=form.cleaned_data["version"],
            )
        except EditConflict as conflict:
            # Someone saved first: show what they changed, keep what this user typed.
            self.object = conflict.record
            return self.render_to_response(
                self.get_context_data(form=form.after_conflict(conflict))
            )
        except ValidationError as error:
            form.add_error(None, error)  # a {field: message} error lands beside its field
            return self.form_invalid(form)
        messages.success(
            self.request, _("Changes saved.") if changes else _("Nothing was changed.")
        )
        warn_to_call(self.request, since)
        return redirect(course)


@permission_required("courses.export_participant_list", raise_exception=True)
def participant_export_view(request, pk):
    """Export a participant list as CSV or XLSX with chosen columns and a stated
    purpose (staff and the register manager). Audited."""
    course = visible_course(request, pk)
    form = ParticipantExportForm(
        request.POST or None, allowed_columns=participant_columns_for(request.user)
    )
    if request.method == "POST" and form.is_valid():
        columns = form.cleaned_data["columns"]
        file_format = form.cleaned_data["file_format"]
        rows, _count = participant_list_export(
            course=course,
            columns=columns,
            purpose=form.cleaned_data["purpose"],
            file_format=file_format,
            by=request.user,
            request=request,
            attendance=form.cleaned_data["attendance"],
        )
        header = [str(PARTICIPANT_COLUMNS[name][0]) for name in columns]
        if form.cleaned_data["attendance"]:
            header += attendance_export_header(course)
        filename = (
            f"osallistujat-{slugify(course.title)}-{timezone.localtime(course.starts_at):%Y-%m-%d}"
        )
        if file_format == "xlsx":
            return xlsx_file_response(f"{filename}.xlsx", header, rows)
        return csv_response(f"{filename}.csv", header, rows)
    return render(request, "courses/participant_export.html", {"course": course, "form": form})
