"""Erasure of customers (GDPR art. 17): their personal data goes everywhere,
the facts stay. Each kind of data is handled by the handler its owner
registered with registry.erasure; this module finds the person's values,
runs the handlers in one transaction and keeps the journal of erased ids."""

import json
import os
import re

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.changes import plain_value
from registry.erasure import ERASED, Erasure, erasure_handler, erasure_handlers
from registry.models import Customer
from registry.phones import format_phone, national_digits
from registry.suppression import keep_digests, objector_digests

from .models import DataSubjectRequest
from .services import CASE_NOTES, case_update, new_reference

#: Fields whose values identify a person, also in the audit trail's history.
IDENTIFYING_FIELDS = ("first_name", "last_name", "email", "phone", "street_address")


def _variants(field, value):
    if field == "phone" and value:
        return {value, national_digits(value), format_phone(value)}
    if field in ("first_name", "last_name"):
        # Each part of a double name too, which also finds the Finnish forms
        # whose stem does not change (Mäki-Petäjälle, "lista Poistettavalle").
        return {value, *re.split(r"[\s'\u2019-]+", value)}
    return {value}


def _personal_values(customer, history):
    """Every identifying value the customer has or had: current fields, and the
    old and new values of their own change and merge events."""
    values = {customer.full_name}
    for field in IDENTIFYING_FIELDS:
        values |= _variants(field, plain_value(getattr(customer, field)))
    for event in history:
        for field, pair in (event.detail.get("changes") or {}).items():
            if field in IDENTIFYING_FIELDS:
                for value in pair:
                    values |= _variants(field, value)
    return sorted((v for v in values if v and len(v) >= 3), key=len, reverse=True)


def _scrub(value, needles):
    """Replace each personal value inside `value` (any depth) by ERASED."""
    if isinstance(value, str):
        lowered = value.casefold()
        for needle in needles:
            start = lowered.find(needle.casefold())
            while start >= 0:
                value = value[:start] + ERASED + value[start + len(needle) :]
                lowered = value.casefold()
                start = lowered.find(needle.casefold())
        return value
    if isinstance(value, list):
        return [_scrub(item, needles) for item in value]
    if isinstance(value, dict):
        return {key: _scrub(item, needles) for key, item in value.items()}
    return value


@erasure_handler("registry.datasubjectrequest")
def _erase_from_request_notes(erasure):
    """A request stays without the person (its customer is set to none when
    the customer row goes). The notes of every request are scrubbed, not only
    the person's own: a note on someone else's case may name them too."""
    for case in DataSubjectRequest.objects.only("pk", *CASE_NOTES).iterator():
        scrubbed = {name: erasure.scrub(getattr(case, name)) for name in CASE_NOTES}
        if any(scrubbed[name] != getattr(case, name) for name in CASE_NOTES):
            # A form opened before the erasure must not write the values back.
            DataSubjectRequest.objects.filter(pk=case.pk).update(
                **scrubbed, version=F("version") + 1
            )


def _journal(entries):
    """Append erased ids to the journal outside the database, durably."""
    path = settings.ERASURE_JOURNAL_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as journal:
        for entry in entries:
            journal.write(json.dumps(entry) + "\n")
        journal.flush()
        os.fsync(journal.fileno())


def read_journal():
    path = settings.ERASURE_JOURNAL_PATH
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as journal:
        return [json.loads(line) for line in journal if line.strip()]


@transaction.atomic
def customers_erase(*, customers, by, request=None, case=None, reason="request", journal=True):
    """Erase customers: every registered erasure handler removes or scrubs its
    data (registry.erasure: the consent ledger goes, enrolments and requests
    stay without the person, personal values are scrubbed out of the audit
    trail, request notes, login records and imported file names), then the
    customer rows are deleted. An audit event with the old id and a random
    reference records each erasure, when and by whom; the ids are appended to
    the erasure journal outside the database for restores of older backups.
    Returns the references, one per customer.
    """
    handlers = erasure_handlers(Customer)
    customers = list(Customer.objects.select_for_update().filter(pk__in=[c.pk for c in customers]))
    # Records merged into these customers were part of them: their events go too.
    history = [event for c in customers for event in AuditEvent.objects.for_customer(c)]
    needles = sorted(
        {v for c in customers for v in _personal_values(c, history)}, key=len, reverse=True
    )
    erasure = Erasure(
        customers=customers,
        customer_ids={int(event.target_id) for event in history} | {c.pk for c in customers},
        scrub=lambda value: _scrub(value, needles),
    )
    now = timezone.now()
    # An objection or a withdrawal in the ledger outlives the person as keyed
    # hashes of their addresses (registry.suppression), kept before the ledger
    # goes; into the journal too, so that a restore of an older backup keeps them.
    suppressed = objector_digests(customers)
    keep_digests({value for values in suppressed.values() for value in values}, now)
    for handler in handlers.values():
        handler(erasure)
    entries, references = [], []
    for customer in customers:
        reference = case.reference if case is not None and len(customers) == 1 else new_reference()
        old_id = customer.pk
        customer.delete()
        audit_event_create(
            action=AuditEvent.Action.CUSTOMER_ERASED,
            by=by,
            request=request,
            detail={"customer_id": old_id, "reference": reference, "reason": reason},
        )
        entry = {"customer_id": old_id, "reference": reference, "erased_at": now.isoformat()}
        if suppressed.get(old_id):
            entry["suppressed"] = suppressed[old_id]
        entries.append(entry)
        references.append(reference)
    # Written before the commit: should the commit fail, a later restore would
    # erase a customer who asked to be erased anyway, which is the safe side.
    if journal:
        _journal(entries)
    return references


@transaction.atomic
def customer_erase(*, customer, by, request=None, case=None):
    """Erase one customer; an erasure case of theirs is closed in the same
    transaction. Returns the reference."""
    reference = customers_erase(customers=[customer], by=by, request=request, case=case)[0]
    if case is not None:
        case_update(
            case=case,
            data={"status": DataSubjectRequest.Status.DONE, "outcome": _("Erased.")},
            by=by,
            request=request,
        )
    return reference
