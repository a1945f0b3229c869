"""The course report page (kept apart from views.py: the reports share the
page of registry.reports.views)."""

from django.contrib.auth.decorators import permission_required
from django.utils.translation import gettext as _

from registry.reports.tables import Period
from registry.reports.views import PERMISSION, report_page

from .reports import courses_report


@permission_required(PERMISSION, raise_exception=True)
def course_report(request):
    return report_page(
        request,
        title=_("Courses"),
        intro=_(
            "Fill rate, waiting-list demand and cancellations of the courses that start "
            "in the period; attendance and no-shows of the sessions held in it."
        ),
        build=courses_report,
        # The coming months too: how the courses about to start are filling.
        default=Period.last_months(12, ahead=2),
    )
