from django import template
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from courses.models import Attendance, Course, Enrollment, Session

register = template.Library()


@register.simple_tag
def enrollable_courses(customer):
    """Coming courses the customer is not on, for enrolling from their page:
    the next ones first, with places taken: (pk, label) pairs. One query."""
    on_course = Enrollment.objects.filter(
        customer=customer,
        course=OuterRef("pk"),
        status__in=[*Enrollment.TAKING_A_PLACE, Enrollment.Status.WAITLISTED],
    )
    courses = (
        Course.objects.upcoming()
        .filter(is_cancelled=False)
        .exclude(Exists(on_course))
        .only("title", "starts_at", "capacity")
        .with_counts(waitlisted=False)[:ENROLLABLE_COURSES]
    )
    return [(course.pk, _option_label(course)) for course in courses]


def _option_label(course):
    """ "Title · date · places": the picker's option, written here rather than
    in the template (30 options of filters and blocktranslate took 8 ms)."""
    if course.enrolled_count >= course.capacity:
        places = _("full: waiting list")
    else:
        places = _("%(taken)s/%(capacity)s taken") % {
            "taken": course.enrolled_count,
            "capacity": course.capacity,
        }
    day = date_format(timezone.localtime(course.starts_at), "SHORT_DATE_FORMAT")
    return f"{course.title} · {day} · {places}"


@register.simple_tag
def enrollment_sources():
    return Enrollment.Source.choices


#: How many coming courses the customer page offers to enrol on (the next
#: ones; any course can be found in the course list, and enrolled on from its
#: page). A hundred, with their counts, were a third of the page's time.
ENROLLABLE_COURSES = 30


@register.simple_tag
def customer_courses(customer):
    """A customer's course history for the customer page, with how many
    sessions they came to of those held or planned ("7/10"). One query."""
    came = (
        Attendance.objects.filter(enrollment=OuterRef("pk"), status=Attendance.Status.CAME)
        .values("enrollment")
        .annotate(n=Count("id"))
        .values("n")
    )
    sessions = (
        Session.objects.filter(course=OuterRef("course"), is_cancelled=False)
        .values("course")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        customer.enrollments.select_related("course")
        .annotate(
            came=Subquery(came, output_field=IntegerField()),
            sessions=Subquery(sessions, output_field=IntegerField()),
        )
        .order_by("-course__starts_at")
    )


@register.simple_tag
def upcoming_courses(user, limit=8):
    """The next courses the user may see, with places taken and the next
    session (a series that has begun shows when it meets next), for the
    dashboard."""
    next_session = (
        Session.objects.filter(
            course=OuterRef("pk"), is_cancelled=False, ends_at__gte=timezone.now()
        )
        .order_by("starts_at")
        .values("starts_at")[:1]
    )
    return list(
        Course.objects.visible_to(user)
        .upcoming()
        .with_counts()
        .annotate(next_session=Subquery(next_session))[:limit]
    )


@register.simple_tag
def todays_sessions(user):
    """Today's sessions of the courses the user may see, for the roll call
    straight from the dashboard (an instructor on a phone). One query."""
    return list(
        Session.objects.filter(
            course__in=Course.objects.visible_to(user),
            starts_at__date=timezone.localdate(),
            is_cancelled=False,
        )
        .select_related("course")
        .order_by("starts_at", "id")[:10]
    )


@register.simple_tag
def customer_messages(customer, limit=50):
    """A customer's latest messages for the customer page (one query)."""
    return list(customer.messages.select_related("course")[:limit])
