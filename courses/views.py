from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.generic import ListView, UpdateView

from registry.audit.services import (
    customer_searched,
    customer_viewed,
)
from registry.concurrency import EditConflict
from registry.exports import csv_response, xlsx_file_response
from registry.models import Customer
from registry.once import Once

from .attendance import session_to_mark
from .call_list import warn_to_call
from .forms import (
    CourseForm,
    CourseListForm,
    CustomerEnrollForm,
    EnrollForm,
    EnrolmentSearchForm,
    ParticipantExportForm,
    SeriesForm,
)
from .models import PLACE_ORDER, Course, Enrollment
from .participants import (
    PARTICIPANT_COLUMNS,
    any_restricted,
    attendance_export_header,
    participant_columns_for,
    participant_list_export,
    participant_list_viewed,
)
from .services import (
    course_create,
    course_update,
    enrollment_cancel,
    enrollment_create,
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
        courses = courses.past() if self.archive else courses.upcoming()
        values = self.filters.values()
        for word in values["q"].split():
            courses = courses.filter(Q(title__icontains=word) | Q(location__icontains=word))
        if values["starts_from"]:
            courses = courses.filter(starts_at__date__gte=values["starts_from"])
        if values["starts_to"]:
            courses = courses.filter(starts_at__date__lte=values["starts_to"])
        return courses

    @cached_property
    def filters(self):
        return CourseListForm(self.request.GET or None)

    @cached_property
    def archive(self):
        return self.filters.values()["archive"] == "1"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            archive=self.archive,
            filters=self.filters,
            query_string=self.filters.query_string(),
            **kwargs,
        )


#: Rows of the course page's participant table per page.
PARTICIPANTS_PER_PAGE = 200


@permission_required("courses.view_course", raise_exception=True)
@transaction.atomic
def course_detail(request, pk):
    """The participant list: enrolled and waiting list with positions, and the
    actions the user may take. Staff and the course's instructor; viewing is
    audited."""
    course = visible_course(request, pk)
    enrollments = course.enrollments.select_related("customer")
    # The enrolled a page at a time: a lecture may hold thousands, and the
    # page's cost should not grow with them (the export holds everybody). In
    # the order the places were taken (PLACE_ORDER, "#" is that order), off
    # the queue index (course, status, time): by name, the first page of a
    # lecture of 20,000 sorted all of them by a joined name (2.4 -> 41 ms;
    # the benchmark's participant list 71 -> 136 ms). Every other list of
    # them is by name (PARTICIPANT_ORDER).
    enrolled_page = Paginator(
        enrollments.taking_a_place().order_by(*PLACE_ORDER), PARTICIPANTS_PER_PAGE
    ).get_page(request.GET.get("page"))
    # In queue order, not by name: its positions say who gets the next place.
    waitlist = list(enrollments.waitlist())
    query = EnrolmentSearchForm(request.GET).values()["q"]
    candidates, on_course = [], []
    enrolling = not course.is_past and not course.is_cancelled
    if query and enrolling and request.user.has_perm("courses.add_enrollment"):
        found = Customer.objects.search(query)
        taken = enrollments.exclude(status=Enrollment.Status.CANCELLED).exclude(customer=None)
        # Those already on the course are shown as such (not as "nobody found",
        # which invites a duplicate record); up to ten others can be enrolled.
        positions = {e.pk: number for number, e in enumerate(waitlist, start=1)}
        shown = list(found.filter(pk__in=taken.values("customer_id")).ordered("name")[:10])
        places = {e.customer_id: e for e in taken.filter(customer__in=shown)}
        on_course = [
            (customer, places[customer.pk], positions.get(places[customer.pk].pk))
            for customer in shown
        ]
        candidates = list(found.exclude(pk__in=taken.values("customer_id")).ordered("name")[:10])
        customer_searched(
            query=query,
            result_count=len(on_course) + len(candidates),
            shown=len(on_course) + len(candidates),
            shown_ids=[c.pk for c, _place, _position in on_course] + [c.pk for c in candidates],
            via="course",
            filters={"course": course.pk},
            by=request.user,
            request=request,
        )
    # Taken back with one click: enrolled again, or onto the waiting list
    # (listed only to those who may enrol, while the course takes people).
    cancelled = (
        list(
            enrollments.filter(
                status=Enrollment.Status.CANCELLED, customer__isnull=False
            ).by_name()
        )
        if enrolling and request.user.has_perm("courses.add_enrollment")
        else []
    )
    # Whom the page showed: its enrolled, the waiting list and the cancelled.
    participant_list_viewed(
        course=course,
        customer_ids=[e.customer_id for e in [*enrolled_page.object_list, *waitlist, *cancelled]],
        by=request.user,
        request=request,
        page=enrolled_page.number,
    )
    return render(
        request,
        "courses/course_detail.html",
        {
            "course": course,
            "sessions": list(course.sessions.order_by("starts_at", "id")),
            "session_to_mark": session_to_mark(course),
            "enrolled": enrolled_page.object_list,
            "enrolled_page": enrolled_page,
            "waitlist": waitlist,
            "show_contacts": request.user.has_perm("courses.view_participant_contacts"),
            "restricted_shown": any_restricted([*enrolled_page.object_list, *waitlist]),
            "query": query,
            "candidates": candidates,
            "on_course": on_course,
            "is_full": enrolled_page.paginator.count >= course.capacity,
            "cancelled": cancelled,
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
@permission_required("courses.add_enrollment", raise_exception=True)
def customer_enrollment_create_view(request, pk):
    """Enrol a customer from their own page (staff): the course chosen there;
    a place if free, else the waiting list. Back to the customer's page."""
    customer = get_object_or_404(Customer, pk=pk)
    form = CustomerEnrollForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            _("Choose a course.") if "course" in form.errors else _("Choose how they enrolled."),
        )
        return redirect(customer)
    course = visible_course(request, form.cleaned_data["course"])
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
        return redirect(customer)
    if enrollment.status == Enrollment.Status.WAITLISTED:
        messages.warning(
            request,
            _("%(course)s is full: %(name)s is number %(position)s on the waiting list.")
            % {
                "course": course.title,
                "name": customer.full_name,
                "position": waitlist_position(enrollment),
            },
        )
    else:
        messages.success(
            request,
            _("%(name)s enrolled on %(course)s.")
            % {"name": customer.full_name, "course": course.title},
        )
    warn_to_call(request, since)
    return redirect(customer)


@permission_required("courses.change_enrollment", raise_exception=True)
@transaction.atomic
def enrollment_cancel_view(request, pk, enrollment_pk):
    """Cancel an enrolment (staff), after a page that asks first and says who
    gets the place; the first on the waiting list gets it. A cancelled
    enrolment can be taken back from the course page (enrolled again)."""
    course = visible_course(request, pk)
    enrollment = get_object_or_404(
        course.enrollments.select_related("customer").filter(
            status__in=[*Enrollment.TAKING_A_PLACE, Enrollment.Status.WAITLISTED]
        ),
        pk=enrollment_pk,
    )
    if course.is_past:
        messages.error(
            request,
            _("The course is over: its participant list is the archive and cannot be changed."),
        )
        return redirect(course)
    if request.method != "POST":
        next_in_line = (
            course.enrollments.next_in_line().select_related("customer").first()
            if enrollment.status in Enrollment.TAKING_A_PLACE
            else None
        )
        # The page names the participant and who would get the place.
        for shown in (enrollment, next_in_line):
            if shown is not None and shown.customer is not None:
                customer_viewed(
                    customer=shown.customer, by=request.user, request=request, via="cancel"
                )
        return render(
            request,
            "courses/enrollment_cancel.html",
            {"course": course, "enrollment": enrollment, "next_in_line": next_in_line},
        )
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


@permission_required("courses.add_course", raise_exception=True)
def course_create_view(request):
    """Add a course and its sessions (staff and the register manager): the
    first post lists the dates with a tick each so that holidays can be
    unticked, the second saves the ticked ones."""
    form = SeriesForm(request.POST or None)
    if request.method == "POST" and form.confirmed:
        if not form.has_token:
            # A confirmation without a token the server gave (made by hand,
            # or a page older than a day) saves nothing: the page again.
            messages.warning(request, _("Check the sessions and save again."))
            form = form.with_new_token()
            return render(request, "courses/course_form.html", {"form": form})
        once = Once(request, form)
        try:
            with transaction.atomic():
                # Taken in the course's transaction (registry.once).
                already = once.answer_if_sent_again(
                    request,
                    _("The course was already added: the form was sent twice."),
                    found_in=Course.objects.visible_to(request.user),
                    otherwise="courses:course-list",
                )
                if already:
                    return already
                course = course_create(
                    data=form.cleaned_data,
                    sessions=form.sessions(),
                    by=request.user,
                    request=request,
                )
                once.saved(course.pk)
        except ValidationError as error:
            # A session the clocks skip (the spring change) ends before it starts.
            form.add_error(None, error)
            return render(request, "courses/course_form.html", {"form": form})
        messages.success(request, _("Course added."))
        return redirect(course)
    if request.method == "POST" and form.is_valid():
        # The first post, or the series was changed: its dates, every one ticked.
        if form.series_changed:
            messages.warning(request, _("The series was changed: check its dates again."))
        form = form.with_every_date_ticked()
    return render(request, "courses/course_form.html", {"form": form})


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
            waitlist=form.cleaned_data["waitlist"],
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
