"""The audit trail's pages (the register manager)."""

import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.accounts.reauth import recent_authentication_required
from registry.exports import csv_response
from registry.models import Customer, RegisterExport
from registry.services import audit_trail_events, audit_trail_export_request

from .forms import AuditFilterForm
from .models import CUSTOMER_TARGET
from .selectors import AUDIT_TRAIL_HEADER, audit_trail_rows, event_targets
from .services import audit_trail_exported, customers_listed


@permission_required("registry.view_auditevent", raise_exception=True)
@transaction.atomic
def audit_trail(request, user_pk=None):
    """All audit events with filters, newest first, 50 a page (register manager).
    /audit/user/<id>/ is one person's activity, this month by default."""
    person = get_object_or_404(get_user_model(), pk=user_pk) if user_pk else None
    data = request.GET.copy()
    if person is not None:
        data["user"] = str(person.pk)
        data.setdefault("since", timezone.localdate().replace(day=1).isoformat())
    form = AuditFilterForm(data or None)
    events = audit_trail_events(form.filters())
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    rows = _with_targets(page.object_list, request.user)
    # The page names the customers its events are about: a list read of them
    # (fifth probe), as any page listing customers is.
    named = Customer.objects.filter(
        pk__in=[
            int(event.target_id)
            for event in page.object_list
            if event.target_type == CUSTOMER_TARGET and event.target_id.isdigit()
        ]
    ).values_list("pk", flat=True)
    if named := list(named):
        customers_listed(
            ids=named,
            via="audit_trail",
            by=request.user,
            request=request,
        )
    return render(
        request,
        "registry/audit_trail.html",
        {
            "form": form,
            "page_obj": page,
            "events": page.object_list,
            "rows": rows,
            "person": person,
            "waiting": RegisterExport.objects.waiting_for(request.user, RegisterExport.Kind.AUDIT),
            "query_string": form.query_string(),
            "page_range": page.paginator.get_elided_page_range(
                page.number, on_each_side=2, on_ends=1
            ),
        },
    )


def _with_targets(events, user):
    targets = event_targets(events, user=user)
    return [(event, targets.get(event.pk)) for event in events]


@permission_required("registry.view_auditevent", raise_exception=True)
@recent_authentication_required
@transaction.atomic
def audit_trail_export(request):
    """The filtered audit trail as CSV; the export is itself audited. Over
    EXPORT_INLINE_MAX_ROWS events the task worker writes the file, and the
    page of the export follows it.

    Only a POST (the page's button, with its CSRF token) exports: a link,
    an image or a redirect elsewhere cannot make the register manager ask
    for an export. The filters ride in the query string; a GET of the same
    address (as after confirming the password) goes back to the filtered
    trail without exporting."""
    query = request.GET.urlencode()
    trail = reverse("registry:audit-trail") + (f"?{query}" if query else "")
    if request.method != "POST":
        return redirect(trail)
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        # The page leaves an invalid filter out; an export would hold more
        # than was asked for (the whole trail, for a mistyped customer number).
        messages.error(request, _("Correct the filters first: nothing was exported."))
        return redirect(trail)
    filters = form.filters()
    events = audit_trail_events(filters)
    count = events.count()
    if count > settings.EXPORT_INLINE_MAX_ROWS:
        export = audit_trail_export_request(
            filters=filters, count=count, by=request.user, request=request
        )
        return redirect(export)
    audit_trail_exported(filters=filters, count=count, by=request.user, request=request)
    return csv_response(
        f"tapahtumaloki-{datetime.date.today():%Y-%m-%d}.csv",
        AUDIT_TRAIL_HEADER,
        audit_trail_rows(events),
    )
