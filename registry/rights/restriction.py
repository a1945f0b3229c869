"""Restriction of processing (GDPR art. 18): the customer's data is only
stored while the restriction lasts.

`Customer.restricted_since` says since when. What it stops is read where
each use of the data is decided, so that no path can forget it: marketing in
CustomerQuerySet.contactable_by (every list, count and export), new
enrolments and course messages in courses, retention in
retention_candidates. Correcting the data (art. 16) stays possible, and the
whole-register export and the access report still hold the customer.

Setting a restriction is journalled outside the database (the marketing
journal, registry.marketing.journal), so that a restore of an older backup
restricts the customer again; lifting one is not (see
customer_restriction_lift).
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.marketing.journal import restriction_journal_append
from registry.models import Customer

from .models import DataSubjectRequest
from .services import case_update


class RestrictionError(ValidationError):
    """A restriction that cannot be set or lifted as asked (said to the user)."""


def _locked(customer):
    current = Customer.objects.select_for_update().filter(pk=customer.pk).first()
    if current is None:
        raise RestrictionError(
            _(
                "This customer is no longer in the register: the record was merged into "
                "another one or erased."
            )
        )
    return current


def _case_detail(case, customer):
    """The case an action answers, as the audit event names it: the case's
    page lists the event (case_trail reads detail.case_id)."""
    if case is None:
        return {}
    if case.customer_id != customer.pk:
        raise ValueError("The request is not this customer's.")
    return {"case_id": case.pk, "reference": case.reference}


def restricted_since_text(customer):
    return formats.date_format(timezone.localtime(customer.restricted_since), "SHORT_DATE_FORMAT")


@transaction.atomic
def customer_restrict(*, customer, by, request=None, case=None):
    """Restrict the processing of a customer's data from now on. A
    restriction request of theirs (`case`) is closed as done in the same
    transaction. Refused (RestrictionError) if it is restricted already:
    the date it was restricted on stays."""
    current = _locked(customer)
    if current.restricted_since is not None:
        raise RestrictionError(
            _("Processing of %(name)s's data has been restricted since %(date)s already.")
            % {"name": current.full_name, "date": restricted_since_text(current)}
        )
    detail = _case_detail(case, current)
    current.restricted_since = timezone.now()
    # A change of the record (its `updated_at` too: an import's undo keeps
    # it); save() also tells the marketing counts that who may be reached
    # changed.
    current.save(update_fields=["restricted_since", "updated_at"])
    audit_event_create(
        action=AuditEvent.Action.CUSTOMER_RESTRICTED,
        by=by,
        target=current,
        request=request,
        detail=detail,
    )
    # It outlives a restore of an older backup (journalled before the commit).
    restriction_journal_append(current)
    if case is not None and case.is_open:
        case_update(
            case=case,
            data={
                "status": DataSubjectRequest.Status.DONE,
                "outcome": _("Processing restricted."),
            },
            by=by,
            request=request,
        )
    return current


@transaction.atomic
def customer_restriction_lift(*, customer, by, request=None, case=None):
    """Lift the restriction: the data may be used again as before. The
    customer must have been told first (art. 18(3)); the view asks. Refused
    (RestrictionError) if the processing is not restricted.

    A lift is not journalled (registry.marketing.journal): a restore of a
    backup made before it restricts the customer again, more and never
    less, and the register manager lifts it again."""
    current = _locked(customer)
    if current.restricted_since is None:
        raise RestrictionError(
            _("Processing of %(name)s's data is not restricted.") % {"name": current.full_name}
        )
    detail = _case_detail(case, current)
    since = current.restricted_since
    current.restricted_since = None
    current.save(update_fields=["restricted_since", "updated_at"])
    audit_event_create(
        action=AuditEvent.Action.CUSTOMER_RESTRICTION_LIFTED,
        by=by,
        target=current,
        request=request,
        detail={"restricted_since": since.isoformat(timespec="seconds"), **detail},
    )
    return current
