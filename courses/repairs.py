"""Places on coming courses an older erasure left taken by nobody
(registry.repairs).

Before f2e6df7 erasing a customer left their enrolments without the person
(the customer set to NULL) and with their status: a place on a course not
yet over stayed taken, so the course looked fuller than it was, and nobody
on its waiting list got the place. The erasure now cancels such places
(services._erase_enrollments); this cancels those left before, the same
way (services.places_cancel): the course locked, each place cancelled and
audited, then the freed places go down the waiting list, whose first are
told. Past courses keep their places: the archive and
its statistics stay as they were.
"""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from registry.repairs import register_repair

from .models import Course, Enrollment
from .services import places_cancel


def _orphan_places(now):
    """Places and queue places without a person on courses not over at `now`."""
    return Enrollment.objects.filter(customer=None, course__ends_at__gte=now).exclude(
        status=Enrollment.Status.CANCELLED
    )


def orphan_places_due():
    """How many places on coming courses are still taken by nobody."""
    return _orphan_places(timezone.now()).count()


@register_repair(
    "orphan_places",
    label=_("places on coming courses taken by an erased customer"),
    due=orphan_places_due,
)
def orphan_places_cancel(now):
    """Cancel the places without a person on courses not over, course by
    course, as the erasure now does (by nobody: the system, as a retention
    run erases). Returns how many were cancelled."""
    course_ids = list(
        _orphan_places(now).values_list("course", flat=True).distinct().order_by("course")
    )
    cancelled = 0
    for course_id in course_ids:
        course = Course.objects.select_for_update().get(pk=course_id)
        if course.is_past:
            continue  # over meanwhile: its list is the archive
        places = (
            Enrollment.objects.select_for_update()
            .filter(course=course, customer=None)
            .exclude(status=Enrollment.Status.CANCELLED)
            .order_by("pk")
        )
        cancelled += places_cancel(course=course, enrollments=places, by=None)
    return cancelled
