"""The course reports: fill rate, waiting-list demand, cancellations,
attendance per session and who stopped coming.

Aggregates only (registry.reports.tables): counts of people below three show
as "< 3". Enrolment rows count whether or not they still point to a person,
so the numbers survive erasure. Who waited and who got a place from the
waiting list is read from the audit trail, which records each enrolment
onto the waiting list and each promotion with the course; the enrolment row
itself keeps only its current status. Attendance rows point at the
enrolment, not the person, so they too survive erasure. A fixed number of
queries.
"""

import re

from django.db import connection
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry.audit.models import AuditEvent
from registry.reports.tables import DatedLabel, LazyRows, Table, people, share

from .models import Attendance, Course, Enrollment, Session

#: The seasons of the course year, by the month a course starts.
SEASONS = {
    **dict.fromkeys(range(1, 6), gettext_lazy("spring")),
    **dict.fromkeys(range(6, 8), gettext_lazy("summer")),
    **dict.fromkeys(range(8, 13), gettext_lazy("autumn")),
}
#: The courses with the most unmet demand: this many.
TOP_UNMET = 10
#: "Stopped coming": came to one of this many first sessions, then to none after.
FIRST_SESSIONS = 3
#: The page shows the latest this many sessions (the CSV has them all).
SESSIONS_ON_PAGE = 100


def course_type(title):
    """The kind of course a title names: the title without a trailing group
    number ("Pilates 2" and "Pilates" are one type)."""
    return re.sub(r"[\s\d.,:#/-]+$", "", title) or title


def season_namer():
    """A function naming the season of a moment ("spring 2026"), in the
    current time zone: the zone looked up and each season's name translated
    once (per row they cost a tenth of a second on the seed's thousands of
    sessions)."""
    zone, names = timezone.get_current_timezone(), {}

    def name(moment):
        local = moment.astimezone(zone)
        key = (local.year, local.month)
        if key not in names:
            names[key] = f"{SEASONS[local.month]} {local.year}"
        return names[key]

    return name


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


def _held_in(period, now):
    """The sessions held in the period: started, not cancelled, of a course
    not cancelled."""
    return Session.objects.held().filter(
        starts_at__gte=period.start,
        starts_at__lt=min(period.end, now),
        course__is_cancelled=False,
    )


def enrolment_counts(period, now=None):
    """{course id: {status: enrolment rows}} for the courses that start in
    the period or have a session held in it, in one query: per course and
    status a count read from the index on (course, status) alone, an
    index-only scan of just that course's entries. Grouping all the
    enrolments of the courses by course and status hashed every row and
    took twice as long; counting them per session, seconds."""
    now = now or timezone.now()
    statuses = Enrollment.Status.values
    counts = {
        f"count_{index}": Coalesce(
            Subquery(
                Enrollment.objects.filter(course=OuterRef("pk"), status=status)
                .order_by()
                .values("course")
                # COUNT(*), not of the key: the key is not in the index.
                .annotate(count=Count("*"))
                .values("count"),
                output_field=IntegerField(),
            ),
            0,
        )
        for index, status in enumerate(statuses)
    }
    rows = (
        Course.objects.filter(
            Q(starts_at__gte=period.start, starts_at__lt=period.end)
            | Q(pk__in=_held_in(period, now).values("course_id"))
        )
        .annotate(**counts)
        .order_by()
        .values_list("pk", *counts)
    )
    return {pk: dict(zip(statuses, figures, strict=True)) for pk, *figures in rows}


def _taking_a_place(counts):
    return sum(counts.get(status, 0) for status in Enrollment.TAKING_A_PLACE)


def course_figures(period, counts):
    """One dict per course starting in the period, in start order; `counts`
    of enrolment_counts."""
    courses = list(
        Course.objects.filter(starts_at__gte=period.start, starts_at__lt=period.end)
        .order_by("starts_at", "id")
        .values("id", "title", "starts_at", "capacity", "is_cancelled")
    )
    waited, promoted = _waiting([course["id"] for course in courses])
    season = season_namer()
    for course in courses:
        statuses = counts.get(course["id"], {})
        course["enrolled"] = _taking_a_place(statuses)
        course["waiting"] = statuses.get(Enrollment.Status.WAITLISTED, 0)
        course["cancelled"] = statuses.get(Enrollment.Status.CANCELLED, 0)
        course["season"] = season(course["starts_at"])
        course["waited"] = waited.get(course["id"], 0)
        course["promoted"] = promoted.get(course["id"], 0)
        # Still waiting when the course was over, or taken off the queue: no place.
        course["unmet"] = max(course["waited"] - course["promoted"], 0)
    return courses


def session_figures(period, counts, now=None):
    """One dict per session held in the period (started, not cancelled, of a
    course not cancelled), in time order: the course's places taken (from
    `counts` of enrolment_counts), and how many came, didn't come and
    reported an absence. Two queries: the sessions, and their marks grouped
    by session and status (grouping the sessions' join with the marks sorted
    them on disk)."""
    now = now or timezone.now()
    held = _held_in(period, now)
    sessions = list(
        held.order_by("starts_at", "id").values(
            "id", "starts_at", "course_id", "course__title", "course__starts_at"
        )
    )
    marks = (
        Attendance.objects.filter(session__in=held.values("pk"))
        .order_by()
        .values_list("session_id", "status")
        .annotate(count=Count("*"))
    )
    per_session = {}
    for session_id, status, count in marks:
        per_session.setdefault(session_id, {})[status] = count
    statuses = Attendance.Status.values
    for row in sessions:
        row["enrolled"] = _taking_a_place(counts.get(row["course_id"], {}))
        marked = per_session.get(row["id"], {})
        for status in statuses:
            row[status] = marked.get(status, 0)
    return sessions


def stopped_coming(period, now=None):
    """{course id: (came to one of the first sessions, then to none after)}
    for the courses starting in the period that are over and had more held
    sessions than FIRST_SESSIONS. Counted by enrolment rows, whatever their
    status now (leaving the course is a way to stop coming), erased people
    included. One query, set-based: the held sessions numbered per course by
    a window, joined to the "came" marks, grouped by enrolment, then by
    course (a lookup of each enrolment's course sessions, row by row, would
    cost half a million of them on the seed)."""
    now = now or timezone.now()
    numbered = (
        Session.objects.held()
        .filter(
            course__starts_at__gte=period.start,
            course__starts_at__lt=period.end,
            course__ends_at__lt=now,
            course__is_cancelled=False,
        )
        .order_by()
        .values(
            session_number=F("id"),
            course_number=F("course_id"),
            number=Window(
                RowNumber(),
                partition_by=[F("course_id")],
                order_by=[F("starts_at").asc(), F("id").asc()],
            ),
        )
    )
    numbered_sql, params = numbered.query.sql_with_params()
    attendance = connection.ops.quote_name(Attendance._meta.db_table)
    # Only our own SQL and the ORM's is formatted in; every value is a parameter.
    sql = f"""
        WITH numbered AS ({numbered_sql}),
        long AS (
            SELECT course_number FROM numbered GROUP BY course_number HAVING MAX(number) > %s
        ),
        came AS (
            SELECT a.enrollment_id, n.course_number,
                   MAX(CASE WHEN n.number <= %s THEN 1 ELSE 0 END) AS first,
                   MAX(CASE WHEN n.number > %s THEN 1 ELSE 0 END) AS later
            FROM {attendance} a JOIN numbered n ON n.session_number = a.session_id
            WHERE a.status = %s AND n.course_number IN (SELECT course_number FROM long)
            GROUP BY a.enrollment_id, n.course_number
        )
        SELECT course_number, COUNT(*), SUM(1 - later)
        FROM came WHERE first = 1 GROUP BY course_number
    """  # noqa: S608
    params = [*params, *[FIRST_SESSIONS] * 3, str(Attendance.Status.CAME)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {course: (began, stopped) for course, began, stopped in cursor.fetchall()}


def attendance_report(period, courses, enrolments, now=None):
    """The attendance tables: per course type and season, who stopped coming
    after the first sessions (per season of the courses starting in the
    period, `courses` of course_figures), and per session (`enrolments` of
    enrolment_counts)."""
    now = now or timezone.now()
    sessions = session_figures(period, enrolments, now)
    came, absent, excused = (str(status) for status in Attendance.Status.values)
    zone = timezone.get_current_timezone()

    def counts(row):
        marked = row[came] + row[absent] + row[excused]
        return [
            people(row["enrolled"]),
            people(row[came]),
            people(row[absent]),
            people(row[excused]),
            people(max(row["enrolled"] - marked, 0)),
            share(row[came], marked),
            share(row[absent], marked),
        ]

    columns = [
        _("Enrolled"),
        _("Came"),
        _("Didn't come"),
        _("Reported absence"),
        _("Not marked"),
        _("Attendance, %"),
        _("No-shows, %"),
    ]
    per_session = Table(
        key="sessions",
        title=_("Attendance per session"),
        row_header=_("Session"),
        columns=columns,
        rows=LazyRows(
            sessions,
            lambda row: (
                DatedLabel(
                    row["starts_at"].astimezone(zone),
                    iso="%Y-%m-%d %H:%M",
                    display="SHORT_DATETIME_FORMAT",
                    prefix=f"{row['course__title']}, ",
                ),
                counts(row),
            ),
        ),
        chart=False,
        page_limit=SESSIONS_ON_PAGE,
        note=_(
            "Sessions held in the period (started, not cancelled). Enrolled: the places taken "
            "on the course now. Attendance and no-shows in percent of those marked."
        ),
    )
    groups = {}
    course_seasons, season_name = {}, season_namer()
    for row in sessions:
        # The course's season, also for a session of a course begun before the period.
        if (season := course_seasons.get(row["course_id"])) is None:
            season = course_seasons[row["course_id"]] = season_name(row["course__starts_at"])
        group = groups.setdefault(
            (course_type(row["course__title"]), season),
            {"sessions": 0, came: 0, absent: 0, excused: 0},
        )
        group["sessions"] += 1
        for status in (came, absent, excused):
            group[status] += row[status]
    per_type = Table(
        key="attendance",
        title=_("Attendance and no-shows per course type and season"),
        row_header=_("Course type, season"),
        columns=[_("Attendance, %"), _("No-shows, %")],
        rows=[
            (
                f"{title}, {season}",
                [
                    share(group[came], group[came] + group[absent] + group[excused]),
                    share(group[absent], group[came] + group[absent] + group[excused]),
                ],
            )
            for (title, season), group in groups.items()
        ],
        percent=True,
        note=_(
            "Of the marks of the sessions held in the period: came, and didn't come without "
            "reporting an absence."
        ),
    )
    stopped = stopped_coming(period, now)
    seasons = {}
    for course in courses:
        if course["id"] in stopped:
            began, gone = stopped[course["id"]]
            season = seasons.setdefault(course["season"], [0, 0])
            season[0] += began
            season[1] += gone
    dropouts = Table(
        key="stopped-coming",
        title=_("Who stopped coming after the first %(count)s sessions, per season")
        % {"count": FIRST_SESSIONS},
        row_header=_("Season"),
        columns=[
            _("Came to the first sessions"),
            _("Then stopped coming"),
            _("Stopped, %"),
        ],
        rows=[
            (season, [people(began), people(gone), share(gone, began)])
            for season, (began, gone) in seasons.items()
        ],
        chart=False,
        note=_(
            "Courses that are over and had more than %(count)s sessions: participants who came "
            "to at least one of the first %(count)s and to none after them."
        )
        % {"count": FIRST_SESSIONS},
    )
    return [per_type, dropouts, per_session]


def courses_report(period):
    # One moment for all: a session started since would have no enrolment count.
    now = timezone.now()
    counts = enrolment_counts(period, now)
    courses = course_figures(period, counts)
    held = [course for course in courses if not course["is_cancelled"]]

    zone = timezone.get_current_timezone()

    def name(course):
        day = course["starts_at"].astimezone(zone).date()
        return DatedLabel(
            day,
            iso="%Y-%m-%d",
            display="SHORT_DATE_FORMAT",
            prefix=f"{course['title']}, ",
            suffix=f" ({_('cancelled')})" if course["is_cancelled"] else "",
        )

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
                name(course),
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
    return [
        per_type,
        most_unmet,
        demand,
        cancelled_courses,
        *attendance_report(period, courses, counts, now),
        per_course,
    ]
