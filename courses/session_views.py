"""The views of a course's sessions: adding, moving and cancelling one, the
roll call (nimenhuuto) and the attendance grid."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from registry.concurrency import EditConflict

from .attendance import attendance_grid_page, attendance_save, roll_call
from .call_list import tell_emailed, warn_to_call
from .forms import (
    RollCallForm,
    SessionCancelForm,
    SessionForm,
    ShownRowsField,
)
from .models import Attendance
from .participants import any_restricted, participant_list_viewed
from .services import (
    session_cancel,
    session_create,
    session_update,
)
from .views import visible_course

#: More digits than any page of a list could have.
MAX_PAGE_DIGITS = 6


@permission_required("courses.mark_attendance", raise_exception=True)
@transaction.atomic
def roll_call_view(request, pk, session_pk):
    """The roll call (nimenhuuto) of one session, made for a phone: everyone
    with a place, always in the same order, each row came / didn't come /
    reported absence, saved in one post. Staff, or the course's instructor;
    only once the session has started; a past session can be corrected. A
    lecture of thousands is called ATTENDANCE_PER_PAGE rows a page; a save
    returns to its page."""
    course = visible_course(request, pk)
    session = get_object_or_404(course.sessions, pk=session_pk)
    # A save reads the rows its list showed: the page may have shifted since.
    page, rows = roll_call(session, request.GET.get("page"), enrollment_ids=_shown_ids(request))
    form = RollCallForm(request.POST or None, rows=rows)
    if request.method == "POST":
        back = _same_page(request, "courses:roll-call", course.pk, session.pk)
        if not form.is_valid():
            messages.error(request, _("The attendance could not be read: nothing was saved."))
            return back
        try:
            saved = attendance_save(
                session=session,
                marks=form.marks(),
                shown=form.cleaned_data["shown"],
                by=request.user,
                request=request,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return back
        count = len(saved.changes)
        messages.success(
            request,
            ngettext(
                "Attendance saved (%(count)s change).",
                "Attendance saved (%(count)s changes).",
                count,
            )
            % {"count": count},
        )
        if saved.conflicts:
            names = ", ".join(
                e.customer.full_name if e.customer else _("(erased)") for e in saved.conflicts
            )
            messages.warning(
                request,
                _(
                    "Someone else marked these meanwhile, and their marks were kept: "
                    "%(names)s. Check them below."
                )
                % {"names": names},
            )
        if saved.restricted:
            messages.warning(
                request,
                _(
                    "Processing of the data of %(names)s is restricted: their attendance "
                    "is not recorded. The other marks were saved."
                )
                % {"names": ", ".join(sorted(c.full_name for c in saved.restricted))},
            )
        return back
    participant_list_viewed(
        course=course,
        customer_ids=[enrollment.customer_id for enrollment, _mark in rows],
        by=request.user,
        request=request,
        # Which rows were seen: the page, as the paginator numbered it.
        session_id=session.pk,
        page=page.number,
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
            "page_obj": page,
            "page_range": page.paginator.get_elided_page_range(page.number),
            "query_string": "",
            "can_mark": session.has_started and not session.is_cancelled,
            "previous": sessions[index - 1] if index > 0 else None,
            "next": sessions[index + 1] if index + 1 < len(sessions) else None,
            "statuses": Attendance.Status.choices,
            "restricted_shown": any_restricted(enrollment for enrollment, _mark in rows),
        },
    )


def _shown_ids(request):
    """The enrolments a posted roll call showed, or None (a GET, or a post
    without its rows: then the page's rows)."""
    if request.method != "POST":
        return None
    try:
        shown = ShownRowsField(required=False).clean(request.POST.getlist("shown"))
    except ValidationError:
        return None
    return set(shown) if shown else None


def _same_page(request, name, *args):
    """A redirect to the page of the list the user was on. Only a page
    number the paginator could mean goes back into the address (str.isdigit
    takes "²" and a digit string of any length)."""
    url = reverse(name, args=args)
    number = request.GET.get("page", "")
    plain = number.isascii() and number.isdigit() and len(number) <= MAX_PAGE_DIGITS
    return redirect(f"{url}?page={number}" if plain else url)


@permission_required("courses.view_enrollment", raise_exception=True)
@transaction.atomic
def attendance_grid_view(request, pk):
    """Participants x sessions, with how many times each came ("7/10") and
    how many came to each session. Viewing is audited. ATTENDANCE_PER_PAGE
    rows a page; the totals count everybody."""
    course = visible_course(request, pk)
    sessions, page, rows, totals = attendance_grid_page(course, request.GET.get("page"))
    participant_list_viewed(
        course=course,
        customer_ids=[row[0].customer_id for row in rows],
        by=request.user,
        request=request,
        view="attendance_grid",
        page=page.number,
    )
    return render(
        request,
        "courses/attendance_grid.html",
        {
            "course": course,
            "columns": list(zip(sessions, totals, strict=True)),
            "rows": rows,
            "page_obj": page,
            "page_range": page.paginator.get_elided_page_range(page.number),
            "query_string": "",
            "restricted_shown": any_restricted(row[0] for row in rows),
        },
    )


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
            tell_emailed(request, since)
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
        try:
            session_cancel(
                session=session,
                reason=form.cleaned_data["reason"],
                by=request.user,
                request=request,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Session cancelled."))
            tell_emailed(request, since)
            warn_to_call(request, since)
        return redirect(course)
    return render(
        request,
        "courses/session_cancel.html",
        {"course": course, "session": session, "form": form},
    )
