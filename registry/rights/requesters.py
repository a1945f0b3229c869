"""Retention of what a request without a customer keeps about its requester.

A customer's requests go with the customer: the retention rule erases a
customer RETENTION_MONTHS after their last activity, and the erasure scrubs
the notes of every request. Someone who is no customer has no activity to
count from and no record to erase, so the same period counts from the day
their request was closed: then the requester's name and contact become
ERASED, and the notes of the case and the values of its audit events lose
them, found as an erasure finds a customer's: every name and contact the
case held, those its update form corrected too. The case stays, with its kind,
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

from .casejournal import restored_requesters
from .erasure import personal_pattern, requester_changes_erased, scrub_value
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


def _recorded(case, events):
    """The names and contacts `case` has held as its requester: its own now,
    and those its audit events recorded (the update form's corrections: a
    typo, an address since changed). Not restored_requester()'s text in
    place of a requester a restore did not keep: it names nobody, and its
    words ("the", "from", "original") would be blanked wherever they stand
    in the request (the twelfth probe)."""
    names, contacts = {case.requester_name}, {case.requester_contact}
    for event in events:
        changes = event.detail.get("changes") if isinstance(event.detail, dict) else None
        for name, found in (("requester_name", names), ("requester_contact", contacts)):
            pair = changes.get(name) if isinstance(changes, dict) else None
            if isinstance(pair, list):
                found.update(value for value in pair if isinstance(value, str))
    nobody = {ERASED, *restored_requesters()}
    return (
        sorted(name for name in names if name.strip() and name not in nobody),
        sorted(contact for contact in contacts if contact.strip() and contact != ERASED),
    )


def _as_customers(names, contacts):
    """The requester as the erasure's matching knows a person: the parts of
    each name, and each contact as an email, a phone number or an address."""
    people = []
    for name in names:
        first, _space, last = name.strip().partition(" ")
        people.append(Customer(first_name=first, last_name=last))
    for contact in contacts:
        contact = contact.strip()
        people.append(
            Customer(
                email=contact if is_email(contact) else "",
                phone=parse_phone(contact) or "",
                street_address=contact,
            )
        )
    return people


#: The longest text each note may hold: [poistettu] is longer than a short
#: name it replaces, and a note near its length that named the requester a
#: few times overflowed its column (the twelfth probe: on PostgreSQL the
#: whole retention run failed, the customers due with it).
_LIMITS = {name: DataSubjectRequest._meta.get_field(name).max_length for name in CASE_NOTES}


@transaction.atomic
def requesters_forget(*, cutoff=None):
    """Forget the requesters of the requests due (see the module): returns
    how many requests were rewritten. The requester's values recorded in
    the request's own events go whole (requester_changes_erased); its notes
    and the other values of its events lose every name and contact the
    request held, cut to each note's length."""
    count = 0
    at = timezone.now().isoformat(timespec="seconds")
    for case in requesters_due(cutoff).select_for_update():
        events = list(
            AuditEvent.objects.for_target(case)
            .filter(action__in=ACTIONS_WITH_VALUES)
            .only("id", "detail")
        )
        pattern = personal_pattern(_as_customers(*_recorded(case, events)), [])
        values = {
            name: scrub_value(getattr(case, name), pattern)[: _LIMITS[name]] for name in CASE_NOTES
        }
        values.update(dict.fromkeys(REQUESTER_FIELDS, ERASED))
        DataSubjectRequest.objects.filter(pk=case.pk).update(**values, version=F("version") + 1)
        for event in events:
            scrubbed = requester_changes_erased(scrub_value(event.detail, pattern))
            if scrubbed != event.detail:
                AuditEvent.objects.scrub(event.pk, {**scrubbed, "scrubbed_at": at})
        # The words typed on a request's link page to find its requester
        # among the customers (its events name no case: every such search
        # is looked at; they are few). Other searches' words go with
        # prune_logs, AUDIT_KEEP_MONTHS after (the review of 30 Nov).
        for event in _link_page_searches().iterator(chunk_size=2000):
            scrubbed = scrub_value(event.detail, pattern)
            if scrubbed != event.detail:
                AuditEvent.objects.scrub(event.pk, {**scrubbed, "scrubbed_at": at})
        count += 1
    return count


def _link_page_searches():
    return AuditEvent.objects.filter(
        action=AuditEvent.Action.CUSTOMER_SEARCHED, detail__via="request_link"
    ).only("id", "detail")
