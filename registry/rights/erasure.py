"""Erasure of customers (GDPR art. 17): their personal data goes everywhere,
the facts stay. Each kind of data is handled by the handler its owner
registered with registry.erasure; this module finds the person's values,
runs the handlers in one transaction and keeps the journal of erased ids."""

import re

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.changes import plain_value
from registry.concurrency import CustomerGone
from registry.erasure import ERASED, Erasure, erasure_handler, erasure_handlers
from registry.identities import (
    check_journal_entry,
    customers_identities,
    identities_as_json,
    journal_moment,
)
from registry.journal import append_durably, read_entries
from registry.models import Customer
from registry.phones import parse_phone
from registry.suppression import keep_digests, objector_digests

from .inflection import inflected_name_pattern
from .models import DataSubjectRequest
from .selectors import retention_candidates
from .services import CASE_NOTES, REQUESTER_FIELDS, case_update, new_reference

#: Fields whose values identify a person, also in the audit trail's history.
IDENTIFYING_FIELDS = ("first_name", "last_name", "email", "phone", "street_address")


#: What people type between the digits of a phone number.
_PHONE_SEPARATORS = r"[\s./()-]*"
#: A name part matches where a word starts (also after "_" or a digit, as in
#: file names), and runs on into Finnish endings: "Aho" finds "Aholle" and,
#: unavoidably, "Ahonen"; it does not find "Mäki" inside "Kotimäki". The forms
#: whose stem changes (Virtasen, Lahden, Pekan) are found by their stems and
#: endings (registry/rights/inflection.py).
_WORD_START = r"(?<![^\W\d_])"


def _phone_pattern(e164):
    """A phone number however it was typed: "+358 40 987 6543", "040-987 6543",
    "00358409876543", "(040) 9876543"; the digits in order, with or without
    the country code or trunk 0, any separators between them."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return re.escape(e164)
    sep = _PHONE_SEPARATORS
    digits = sep.join(str(number.national_number))
    prefix = rf"(?:(?:\+|00){sep}{number.country_code}{sep}(?:\(0\){sep})?|0{sep})?"
    return rf"(?<!\d){prefix}{digits}(?!\d)"


def _patterns(field, value):
    """(length of the value, pattern) pairs for one value of a field."""
    if field == "phone" and value:
        return {(len(value), _phone_pattern(parse_phone(value) or value))}
    if field in ("first_name", "last_name"):
        # Each part of a double name too. By its beginning, which finds the
        # Finnish forms whose stem does not change (Mäki-Petäjälle, "lista
        # Poistettavalle"); by its stems, those whose stem changes (Virtaselle):
        # the stem goes, the ending stays, as with the beginning ("[poistettu]lle").
        parts = {value, *re.split(r"[\s'\u2019-]+", value)}
        found = {(len(part), _WORD_START + re.escape(part)) for part in parts if len(part) >= 3}
        last_name = field == "last_name"
        inflected = {(len(p), inflected_name_pattern(p, last_name=last_name)) for p in parts}
        return found | {(length, _WORD_START + p) for length, p in inflected if p}
    return {(len(value), re.escape(value))} if len(value) >= 3 else set()


def personal_pattern(customers, history):
    """One pattern for every identifying value the customers have or had:
    current fields, and the old and new values of their own change and merge
    events. Longer alternatives first, so a full name goes as one."""
    patterns = set()
    for customer in customers:
        patterns |= _patterns("full_name", customer.full_name)
        for field in IDENTIFYING_FIELDS:
            patterns |= _patterns(field, plain_value(getattr(customer, field)))
    for event in history:
        for field, pair in (event.detail.get("changes") or {}).items():
            if field in IDENTIFYING_FIELDS:
                for value in pair:
                    if value:
                        patterns |= _patterns(field, str(value))
    if not patterns:
        return None
    longest_first = sorted(patterns, key=lambda pair: pair[0], reverse=True)
    return re.compile("|".join(pattern for _length, pattern in longest_first), re.IGNORECASE)


def full_name_pattern(customers, history):
    """The narrower pattern of Erasure.scrub_full_name, for texts about many
    people (a course's title, description and place): each customer's full
    name in either order ("Hilkka Virtanen", "Virtanen, Hilkka"), the last
    name (or, last-first, the first name) also inflected ("Hilkka
    Virtasen"), and every email and phone number they have or had; never a
    part of a name alone nor the street address, which there would hit other
    words ("Satujooga" for Satu, "Pilates, Lahti" for Lahti)."""
    patterns = set()
    for customer in customers:
        first, last = customer.first_name.strip(), customer.last_name.strip()
        if first and last:
            then_last = _any_form(last, last_name=True)
            then_first = _any_form(first, last_name=False)
            patterns.add(
                (len(first) + len(last) + 1, rf"{_WORD_START}{re.escape(first)}\s+{then_last}")
            )
            patterns.add(
                (len(first) + len(last) + 1, rf"{_WORD_START}{re.escape(last)},?\s+{then_first}")
            )
        for field in ("email", "phone"):
            patterns |= _patterns(field, plain_value(getattr(customer, field)))
    for event in history:
        for field, pair in (event.detail.get("changes") or {}).items():
            if field in ("email", "phone"):
                patterns |= {p for value in pair if value for p in _patterns(field, str(value))}
    if not patterns:
        return None
    longest_first = sorted(patterns, key=lambda pair: pair[0], reverse=True)
    return re.compile("|".join(pattern for _length, pattern in longest_first), re.IGNORECASE)


def _any_form(name, *, last_name):
    """A name as written (running on into endings that keep its stem) or in
    a form whose stem changes (registry/rights/inflection.py)."""
    inflected = inflected_name_pattern(name, last_name=last_name)
    return f"(?:{re.escape(name)}{'|' + inflected if inflected else ''})"


def scrub_value(value, pattern):
    """Replace each personal value inside `value` (any depth) by ERASED, in
    one pass (ERASED itself is never searched again)."""
    if pattern is None:
        return value
    if isinstance(value, str):
        return pattern.sub(ERASED, value)
    if isinstance(value, list):
        return [scrub_value(item, pattern) for item in value]
    if isinstance(value, dict):
        return {key: scrub_value(item, pattern) for key, item in value.items()}
    return value


def requester_changes_erased(detail):
    """An event of a request's changes with its requester's name or contact
    changed (the update form, before the request was linked to a customer):
    their values, old and new, go whole. They name the requester however
    they were typed (a typo corrected, an address since changed), which a
    pattern of the names now does not find (the twelfth probe)."""
    changes = detail.get("changes") if isinstance(detail, dict) else None
    if not isinstance(changes, dict) or not any(name in changes for name in REQUESTER_FIELDS):
        return detail
    erased = {
        name: [ERASED if value else value for value in pair] if isinstance(pair, list) else ERASED
        for name, pair in changes.items()
        if name in REQUESTER_FIELDS
    }
    return {**detail, "changes": {**changes, **erased}}


@erasure_handler("registry.datasubjectrequest")
def _erase_from_request_notes(erasure):
    """A request stays without the person (its customer is set to none when
    the customer row goes). The notes of every request are scrubbed, not only
    the person's own: a note on someone else's case may name them too. The
    person's own requests lose who asked as it was typed before they were
    linked to the person (requester_changes_erased)."""
    # A form opened before the erasure must not write the values back: versioned.
    erasure.scrub_rows(DataSubjectRequest.objects.all(), CASE_NOTES, versioned=True)
    own = DataSubjectRequest.objects.filter(customer__in=erasure.customer_ids)
    events = AuditEvent.objects.filter(
        action=AuditEvent.Action.CASE_UPDATED,
        target_type=DataSubjectRequest._meta.label_lower,
        target_id__in=[str(pk) for pk in own.values_list("pk", flat=True)],
    )
    for event in events.only("id", "detail").iterator(chunk_size=2000):
        erased = requester_changes_erased(event.detail)
        if erased != event.detail:
            erased["scrubbed_at"] = erasure.at.isoformat(timespec="seconds")
            AuditEvent.objects.scrub(event.pk, erased)
            erasure.rewrote("registry.auditevent")


def _journal(entries):
    """Append erased ids to the journal outside the database, durably."""
    append_durably(settings.ERASURE_JOURNAL_PATH, entries)


class ErasureJournalError(Exception):
    """The erasure journal cannot be read; the message says where."""


def read_journal():
    """The journal's entries, oldest first. ErasureJournalError names a line
    that is not an entry: a restore reads the journal before it restores, so
    that a line torn by a crash stops it before the backup brings back
    anyone erased since (the tenth probe)."""
    path = settings.ERASURE_JOURNAL_PATH
    return read_entries(
        path,
        _check_entry,
        unreadable=lambda number: ErasureJournalError(
            f"Line {number} of the erasure journal {path} is not an entry: "
            "repair or remove that line, then restore again."
        ),
    )


def _check_entry(entry):
    """ValueError unless `entry` is one the restore can apply: the person
    (check_journal_entry) and the suppression list's hashes kept, with when."""
    check_journal_entry(entry)
    suppressed = entry.get("suppressed")
    if suppressed:
        if not (isinstance(suppressed, list) and all(isinstance(d, str) for d in suppressed)):
            raise ValueError("suppressed")
        journal_moment(entry.get("erased_at"))


@transaction.atomic
def customers_erase(*, customers, by, request=None, case=None, reason="request", journal=True):
    """Erase customers: every registered erasure handler removes or scrubs its
    data (registry.erasure: the consent ledger and the person's messages go,
    places on courses not over are cancelled, enrolments and requests stay
    without the person, personal values are scrubbed out of the audit
    trail, request notes, login records, imported file names, sessions'
    reasons and other people's messages, and mail files naming them are
    deleted), then the customer rows are deleted. An audit event with the old
    id and a random reference records each erasure, when and by whom; the ids
    are appended to the erasure journal outside the database for restores of
    older backups.
    Returns the references, one per customer.
    """
    handlers = erasure_handlers(Customer)
    customers = list(Customer.objects.select_for_update().filter(pk__in=[c.pk for c in customers]))
    # Records merged into these customers were part of them: their events go too.
    # (Only the events targeting them: a list read that showed them is about
    # a course or nobody, and names no record merged into them.)
    history = [
        event
        for c in customers
        for event in AuditEvent.objects.for_customer(c).filter(target_type="registry.customer")
    ]
    pattern = personal_pattern(customers, history)
    full_names = full_name_pattern(customers, history)
    now = timezone.now()
    erasure = Erasure(
        at=now,
        customers=customers,
        customer_ids={int(event.target_id) for event in history} | {c.pk for c in customers},
        scrub=lambda value: scrub_value(value, pattern),
        scrub_full_name=lambda value: scrub_value(value, full_names),
        by=by,
        request=request,
    )
    # An objection or a withdrawal in the ledger outlives the person as keyed
    # hashes of their addresses (registry.suppression), kept before the ledger
    # goes; into the journal too, so that a restore of an older backup keeps them.
    suppressed = objector_digests(customers)
    # Every (id, moment added) the person had, records merged into them
    # included, read from the merge events before the handlers scrub them:
    # a backup made before a merge holds the person as the old records.
    identities = customers_identities(customers)
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
            detail={
                "customer_id": old_id,
                "reference": reference,
                "reason": reason,
                # Rows that named the person were rewritten at this moment
                # (one erasure of several customers counts them once).
                **({"rewritten": dict(erasure.rewritten)} if erasure.rewritten else {}),
            },
        )
        # The id and the moment the customer was added name one person: a
        # restore of an older backup must not erase whoever holds the id next.
        # "identities": every pair the person had (registry.identities), so
        # that the records of a backup older than a merge are erased too.
        entry = {
            "customer_id": old_id,
            "created_at": customer.created_at.isoformat(),
            "identities": identities_as_json(identities[old_id]),
            "reference": reference,
            "erased_at": now.isoformat(),
        }
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
def retention_erase(*, customers, cutoff, by=None, request=None):
    """Erase the customers chosen for the retention rule who are still due.
    The choice was made before: a customer who enrolled, asked for something,
    was restricted or was active since is no longer due. Their rows are
    locked first (an enrolment, a change or a restriction locks them too), and
    the rule asked again in this transaction, so none of them is erased.
    Returns (the erased customers, their references, how many were skipped)."""
    ids = [customer.pk for customer in customers]
    list(Customer.objects.select_for_update().filter(pk__in=ids).values_list("pk"))
    due = list(retention_candidates(cutoff).filter(pk__in=ids))
    references = customers_erase(customers=due, by=by, request=request, reason="retention")
    return due, references, len(ids) - len(due)


@transaction.atomic
def customer_erase(*, customer, by, request=None, case=None):
    """Erase one customer; an erasure case of theirs is closed in the same
    transaction. Returns the reference."""
    references = customers_erase(customers=[customer], by=by, request=request, case=case)
    if not references:
        raise CustomerGone  # merged away or erased meanwhile: nothing was done
    reference = references[0]
    if case is not None:
        case_update(
            case=case,
            data={"status": DataSubjectRequest.Status.DONE, "outcome": _("Erased.")},
            by=by,
            request=request,
        )
    return reference
