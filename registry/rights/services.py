"""Requests as cases: logged, updated and closed, each audited."""

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.changes import changes_apply
from registry.concurrency import check_version
from registry.merge import merge_handler

from .casejournal import case_journal_append, journalled_change
from .models import DataSubjectRequest, one_month_after

#: Who asked, on a request logged without a customer.
REQUESTER_FIELDS = ("requester_name", "requester_contact")
#: The text typed on a data subject request, which an erasure scrubs on every
#: case (registry.rights.erasure): its notes, and the requester's name and
#: contact when it has no customer.
CASE_NOTES = ("identity_verification", "extension_reason", "outcome", *REQUESTER_FIELDS)


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


class CaseRefused(ValidationError):
    """A change a case cannot take as it is now (said to the user)."""


def deadline_before_receipt(received_on):
    """What a deadline before the day the request was received is told."""
    return _("The deadline cannot be before the request was received (%(date)s).") % {
        "date": date_format(received_on, "SHORT_DATE_FORMAT")
    }


@transaction.atomic
def case_log(
    *,
    customer,
    kind,
    received_on,
    identity_verification,
    by,
    request=None,
    requester_name="",
    requester_contact="",
):
    """Log a request; its deadline is one month from receipt (GDPR art. 12(3)).

    Without a customer (someone who is none, or no longer), the requester's
    name and how to reach them are kept on the case; with one, the
    customer's record holds them. The audit event names neither."""
    if customer is None and not requester_name:
        raise ValueError("A request without a customer needs the requester's name.")
    case = DataSubjectRequest.objects.create(
        reference=new_reference(),
        customer=customer,
        requester_name="" if customer else requester_name,
        requester_contact="" if customer else requester_contact,
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
    # It outlives a restore of an older backup (journalled before the commit).
    case_journal_append(case)
    return case


@transaction.atomic
def case_link(*, case, customer, by, request=None):
    """Link an open request without a customer to the customer who made it.
    The requester's name and contact go: the customer's record holds how to
    reach them (data minimisation). Audited as an event of the customer that
    names the case, so both the customer's trail and the case's page list it.
    Refused (CaseRefused) when the case was linked or closed meanwhile."""
    case = DataSubjectRequest.objects.select_for_update().get(pk=case.pk)
    if not case.linkable:
        raise CaseRefused(
            _("This request can no longer be linked: it has a customer or it is closed.")
        )
    case.customer = customer
    case.requester_name = case.requester_contact = ""
    case.version += 1
    case.save(update_fields=["customer", *REQUESTER_FIELDS, "version"])
    audit_event_create(
        action=AuditEvent.Action.CASE_LINKED,
        by=by,
        target=customer,
        request=request,
        detail={"case_id": case.pk, "reference": case.reference},
    )
    case_journal_append(case)
    return case


def no_data_outcome():
    return _("No personal data about the requester is held in the register.")


@transaction.atomic
def case_close_no_data(*, case, by, request=None):
    """Close an open access request without a customer: the register holds
    nothing about the requester (the answer GDPR art. 15 still requires).
    Refused (CaseRefused) for another kind, a case with a customer, or one
    already closed."""
    case = DataSubjectRequest.objects.select_for_update().get(pk=case.pk)
    if not (
        case.kind == DataSubjectRequest.Kind.ACCESS and case.without_customer and case.is_open
    ):
        raise CaseRefused(_("Only an open access request without a customer is closed this way."))
    return case_update(
        case=case,
        data={"status": DataSubjectRequest.Status.DONE, "outcome": no_data_outcome()},
        by=by,
        request=request,
    )


@transaction.atomic
def case_update(*, case, data, by, request=None, version=None):
    """Change a case: extend the deadline (with a reason), close it, note the outcome.

    `version` is the version the form was opened on: if the case has changed
    since, EditConflict is raised and nothing is saved. A deadline before
    the day the request was received is refused (CaseRefused, beside the
    deadline)."""
    case = DataSubjectRequest.objects.select_for_update().get(pk=case.pk)
    check_version((case, version), actions=[AuditEvent.Action.CASE_UPDATED])
    # Who asked only on a request of someone who is no customer that may
    # still be linked: never names put on a customer's case or a scrubbed one.
    fields = (*REQUESTER_FIELDS, *CASE_FIELDS) if case.linkable else CASE_FIELDS
    changes = changes_apply(case, data, fields)
    # Only when a date changes: a case saved before this check stays closable
    # (an erasure or a restriction closes its case).
    if ({"deadline", "received_on"} & changes.keys()) and case.deadline < case.received_on:
        raise CaseRefused({"deadline": deadline_before_receipt(case.received_on)})
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
        if journalled_change(changes):  # not an outcome alone: the journal holds no text
            case_journal_append(case)
    return case


def case_viewed(*, case, by, request=None):
    """A request without a customer shows its requester: its page is a read
    of them, as a customer's page is of the customer."""
    audit_event_create(action=AuditEvent.Action.CASE_VIEWED, by=by, target=case, request=request)


def case_answer_produced(*, case, by, request=None):
    audit_event_create(
        action=AuditEvent.Action.CASE_ANSWER_EXPORTED, by=by, target=case, request=request
    )


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
