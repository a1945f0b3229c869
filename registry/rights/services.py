"""Requests as cases: logged, updated and closed, each audited."""

import secrets

from django.db import transaction
from django.utils import timezone

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.changes import changes_apply
from registry.concurrency import check_version
from registry.merge import merge_handler

from .models import DataSubjectRequest, one_month_after

#: The notes typed on a data subject request.
CASE_NOTES = ("identity_verification", "extension_reason", "outcome")


CASE_FIELDS = (
    "kind",
    "received_on",
    "identity_verification",
    "deadline",
    "extension_reason",
    "status",
    "completed_on",
    "outcome",
)


def new_reference():
    return f"DSR-{secrets.token_hex(4).upper()}"


@transaction.atomic
def case_log(*, customer, kind, received_on, identity_verification, by, request=None):
    """Log a request; its deadline is one month from receipt (GDPR art. 12(3))."""
    case = DataSubjectRequest.objects.create(
        reference=new_reference(),
        customer=customer,
        kind=kind,
        received_on=received_on,
        identity_verification=identity_verification,
        deadline=one_month_after(received_on),
        handled_by=by,
    )
    audit_event_create(
        action=AuditEvent.Action.CASE_LOGGED,
        by=by,
        target=case,
        request=request,
        detail={"kind": kind, "customer_id": customer.pk if customer else None},
    )
    return case


@transaction.atomic
def case_update(*, case, data, by, request=None, version=None):
    """Change a case: extend the deadline (with a reason), close it, note the outcome.

    `version` is the version the form was opened on: if the case has changed
    since, EditConflict is raised and nothing is saved."""
    case = DataSubjectRequest.objects.select_for_update().get(pk=case.pk)
    check_version((case, version), actions=[AuditEvent.Action.CASE_UPDATED])
    changes = changes_apply(case, data, CASE_FIELDS)
    if case.status in DataSubjectRequest.CLOSED and case.completed_on is None:
        case.completed_on = timezone.localdate()
        changes["completed_on"] = ["", case.completed_on.isoformat()]
    if changes:
        case.version += 1
        case.save()
        audit_event_create(
            action=AuditEvent.Action.CASE_UPDATED,
            by=by,
            target=case,
            request=request,
            detail={"changes": changes, "version": case.version},
        )
    return case


def access_report_produced(*, customer, download, by, request=None):
    audit_event_create(
        action=AuditEvent.Action.ACCESS_REPORT_EXPORTED
        if download
        else AuditEvent.Action.ACCESS_REPORT_VIEWED,
        by=by,
        target=customer,
        request=request,
    )


@merge_handler("registry.datasubjectrequest")
def _merge_cases(*, keep, remove):
    # A request made through either record is a request of the same person.
    DataSubjectRequest.objects.filter(customer=remove).update(customer=keep)
