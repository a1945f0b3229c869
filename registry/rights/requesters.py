"""Retention of what a request without a customer keeps about its requester.

A customer's requests go with the customer: the retention rule erases a
customer RETENTION_MONTHS after their last activity, and the erasure scrubs
the notes of every request. Someone who is no customer has no activity to
count from and no record to erase, so the same period counts from the day
their request was closed: then the requester's name and contact become
ERASED, and the notes of the case and the values of its audit events lose
them, found as an erasure finds a customer's. The case stays, with its kind,
dates, status and outcome: the proof that it was answered, and in time (the
requests report counts it). `manage.py retention` runs it.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from registry.audit.erasure import ACTIONS_WITH_VALUES
from registry.audit.models import AuditEvent
from registry.erasure import ERASED
from registry.models import Customer, is_email
from registry.phones import parse_phone

from .erasure import personal_pattern, scrub_value
from .models import DataSubjectRequest, add_months
from .services import CASE_NOTES, REQUESTER_FIELDS


def requesters_cutoff(today=None):
    """Requests without a customer closed before this day are due."""
    return add_months(today or timezone.localdate(), -settings.RETENTION_MONTHS)


def requesters_due(cutoff=None):
    """Closed requests without a customer whose requester is still named,
    closed before `cutoff` (default: RETENTION_MONTHS ago)."""
    return (
        DataSubjectRequest.objects.filter(
            customer__isnull=True,
            status__in=DataSubjectRequest.CLOSED,
            completed_on__lt=cutoff or requesters_cutoff(),
        )
        .exclude(requester_name__in=["", ERASED])
        .order_by("completed_on", "id")
    )


def _as_customer(case):
    """The requester as the erasure's matching knows a person: the parts of
    the name, and the contact as an email, a phone number or an address."""
    first, _space, last = case.requester_name.strip().partition(" ")
    contact = case.requester_contact.strip()
    return Customer(
        first_name=first,
        last_name=last,
        email=contact if is_email(contact) else "",
        phone=parse_phone(contact) or "",
        street_address=contact,
    )


@transaction.atomic
def requesters_forget(*, cutoff=None):
    """Forget the requesters of the requests due (see the module): returns
    how many requests were rewritten."""
    count = 0
    at = timezone.now().isoformat(timespec="seconds")
    for case in requesters_due(cutoff).select_for_update():
        pattern = personal_pattern([_as_customer(case)], [])
        values = {name: scrub_value(getattr(case, name), pattern) for name in CASE_NOTES}
        values.update(dict.fromkeys(REQUESTER_FIELDS, ERASED))
        DataSubjectRequest.objects.filter(pk=case.pk).update(**values, version=F("version") + 1)
        events = AuditEvent.objects.for_target(case).filter(action__in=ACTIONS_WITH_VALUES)
        for event in events.only("id", "detail"):
            scrubbed = scrub_value(event.detail, pattern)
            if scrubbed != event.detail:
                AuditEvent.objects.scrub(event.pk, {**scrubbed, "scrubbed_at": at})
        count += 1
    return count
