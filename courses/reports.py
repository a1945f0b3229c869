"""The course reports: fill rate, waiting-list demand, cancellations.

Aggregates only (registry.reports.tables): counts of people below three show
as "< 3". Enrolment rows count whether or not they still point to a person,
so the numbers survive erasure. Who waited and who got a place from the
waiting list is read from the audit trail, which records each enrolment
onto the waiting list and each promotion with the course; the enrolment row
itself keeps only its current status. A fixed number of queries.

Not here yet: attendance and no-shows per session, which need the sessions
of a course (issue 18, on another branch).
"""

import re

from django.db.models import Count, Q
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry.audit.models import AuditEvent
from registry.reports.tables import Table, people, share

from .models import Course, Enrollment

#: The seasons of the course year, by the month a course starts.
SEASONS = {
    **dict.fromkeys(range(1, 6), gettext_lazy("spring")),
    **dict.fromkeys(range(6, 8), gettext_lazy("summer")),
    **dict.fromkeys(range(8, 13), gettext_lazy("autumn")),
}
#: The courses with the most unmet demand: this many.
TOP_UNMET = 10


def course_type(title):
    """The kind of course a title names: the title without a trailing group
    number ("Pilates 2" and "Pilates" are one type)."""
    return re.sub(r"[\s\d.,:#/-]+$", "", title) or title


def season_of(moment):
    local = timezone.localtime(moment)
    return f"{SEASONS[local.month]} {local.year}"


def _waiting(course_ids):
    """{course id: (customers who waited, customers promoted)} from the audit trail."""

    def per_course(queryset):
        rows = (
            queryset.annotate(course=KeyTextTransform("course_id", "detail"))
            .filter(course__in=[str(pk) for pk in course_ids])
            .values("course")
            .annotate(count=Count("target_id", distinct=True))
        )
        return {int(row["course"]): row["count"] for row in rows}

    waited = per_course(
        AuditEvent.objects.filter(action=AuditEvent.Action.ENROLLED, detail__status="waitlisted")
    )
    promoted = per_course(AuditEvent.objects.filter(action=AuditEvent.Action.WAITLIST_PROMOTED))
    return waited, promoted


def course_figures(period):
    """One dict per course starting in the period, in start order."""
    courses = list(
        Course.objects.filter(starts_at__gte=period.start, starts_at__lt=period.end)
        .annotate(
            enrolled=Count(
                "enrollments", filter=Q(enrollments__status__in=Enrollment.TAKING_A_PLACE)
            ),
            waiting=Count(
                "enrollments", filter=Q(enrollments__status=Enrollment.Status.WAITLISTED)
            ),
            cancelled=Count(
                "enrollments", filter=Q(enrollments__status=Enrollment.Status.CANCELLED)
            ),
        )
        .order_by("starts_at", "id")
        .values(
            "id",
            "title",
            "starts_at",
            "capacity",
            "is_cancelled",
            "enrolled",
            "waiting",
            "cancelled",
        )
    )
    waited, promoted = _waiting([course["id"] for course in courses])
    for course in courses:
        course["season"] = season_of(course["starts_at"])
        course["waited"] = waited.get(course["id"], 0)
        course["promoted"] = promoted.get(course["id"], 0)
        # Still waiting when the course was over, or taken off the queue: no place.
        course["unmet"] = max(course["waited"] - course["promoted"], 0)
    return courses


def courses_report(period):
    courses = course_figures(period)
    held = [course for course in courses if not course["is_cancelled"]]

    def name(course):
        day = timezone.localtime(course["starts_at"]).date().isoformat()
        return f"{course['title']}, {day}"

    per_course = Table(
        key="courses",
        title=_("Fill rate and waiting list per course"),
        row_header=_("Course"),
        columns=[
            _("Capacity"),
            _("Enrolled"),
            _("Fill rate, %"),
            _("Waited"),
            _("Got a place from the waiting list"),
            _("Never got a place"),
            _("Cancelled enrolments"),
        ],
        rows=[
            (
                name(course) + (f" ({_('cancelled')})" if course["is_cancelled"] else ""),
                [
                    course["capacity"],
                    people(course["enrolled"]),
                    None
                    if course["is_cancelled"]
                    else share(course["enrolled"], course["capacity"]),
                    people(course["waited"]),
                    people(course["promoted"]),
                    people(course["unmet"]),
                    people(course["cancelled"]),
                ],
            )
            for course in courses
        ],
        chart=False,
        note=_("Enrolled: enrolled or attended. Courses that were cancelled have no fill rate."),
    )
    groups = {}
    for course in held:
        key = (course_type(course["title"]), course["season"])
        group = groups.setdefault(key, {"capacity": 0, "enrolled": 0, "courses": 0})
        group["capacity"] += course["capacity"]
        group["enrolled"] += course["enrolled"]
        group["courses"] += 1
    per_type = Table(
        key="course-types",
        title=_("Fill rate per course type and season"),
        row_header=_("Course type, season"),
        columns=[_("Fill rate, %")],
        rows=[
            (f"{title}, {season}", [share(group["enrolled"], group["capacity"])])
            for (title, season), group in groups.items()
        ],
        percent=True,
        note=_(
            "A course type is the courses of the same title, without a group number at "
            "its end. Seasons: spring January to May, summer June and July, autumn August "
            "to December."
        ),
    )
    seasons = {}
    for course in courses:
        season = seasons.setdefault(
            course["season"],
            {
                "courses": 0,
                "cancelled_courses": 0,
                "waited": 0,
                "promoted": 0,
                "unmet": 0,
                "cancelled": 0,
            },
        )
        season["courses"] += 1
        season["cancelled_courses"] += int(course["is_cancelled"])
        for key in ("waited", "promoted", "unmet", "cancelled"):
            season[key] += course[key]
    demand = Table(
        key="waiting-list",
        title=_("Waiting-list demand and cancellations per season"),
        row_header=_("Season"),
        columns=[
            _("Waited"),
            _("Got a place from the waiting list"),
            _("Never got a place"),
            _("Cancelled enrolments"),
        ],
        rows=[
            (
                season,
                [people(figures[key]) for key in ("waited", "promoted", "unmet", "cancelled")],
            )
            for season, figures in seasons.items()
        ],
    )
    cancelled_courses = Table(
        key="cancelled-courses",
        title=_("Courses held and cancelled per season"),
        row_header=_("Season"),
        columns=[_("Courses"), _("Cancelled courses")],
        rows=[
            (season, [figures["courses"], figures["cancelled_courses"]])
            for season, figures in seasons.items()
        ],
    )
    unmet = sorted(
        (course for course in courses if course["unmet"]),
        key=lambda course: (-course["unmet"], course["starts_at"], course["id"]),
    )[:TOP_UNMET]
    most_unmet = Table(
        key="unmet-demand",
        title=_("Courses with the most unmet demand"),
        row_header=_("Course"),
        columns=[_("Never got a place")],
        rows=[(name(course), [people(course["unmet"])]) for course in unmet],
        note=_(
            "People who were on the waiting list and never got a place: another group would have "
            "had them."
        ),
    )
    return [per_type, most_unmet, demand, cancelled_courses, per_course]
