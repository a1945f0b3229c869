"""Data subject requests outlive a restore.

A restore of last night's backup lost every case logged or changed since: a
request could go unanswered past its one month (GDPR art. 12(3)), and the
proof that an erasure, objection or restriction made after the backup was
asked for was gone (those themselves come back from the erasure and
marketing journals). So each case is journalled in the marketing journal
(registry.journal: the same file, lock and fsync before the transaction
commits), as an entry of the kind "case", whenever it is logged,
linked to a customer, or its kind, dates or status change (extended, closed,
reopened): its reference, kind ("request"), received_on, deadline, status
and completed_on, the customer by the journals' identity (id, moment added
and every other such pair the person had, registry.identities) or none, the
account that logged it (id and the moment it was made, as the ledger's
entries name theirs), when it was logged and when journalled. Never the
requester's name or contact, never the text typed on the case (the
identity's verification, the extension's reason, the outcome): an outcome
changed alone is not journalled.

After a restore (after the erasure journal and the rest of the marketing
journal), `cases_reapply` takes each reference's latest entry (the file's
order: a case is changed under its row lock, so its entries are appended in
the order its changes commit) and
- re-creates a case the restored register lacks, with that state, the
  customer if that very person is in the restored register (someone else
  holding the id, or a customer erased since, is not), the account if that
  very account is there, and `restored_note()` in place of the typed text,
  so that the case is visibly incomplete;
- brings a case the backup holds up to the journalled kind, dates and
  status, and links it to the journalled customer if it has none (the
  requester's name and contact go, as a link removes them); a reason or an
  outcome typed since is lost, so an empty one gets the note too.
Each is audited (CASE_RESTORED, by nobody, "via": "marketing_journal",
codes and dates only). Restoring twice re-creates nothing twice.
"""

import re
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.changes import plain_value
from registry.identities import (
    YEARS,
    check_journal_entry,
    customers_identities,
    identities_as_json,
    identities_from_entry,
    is_journal_id,
    journal_moment,
)
from registry.journal import entries_of, journal_append, register_entry_kind
from registry.models import Customer

from .models import DataSubjectRequest

#: The kind of a case's entries in the marketing journal.
CASE = "case"

#: A case's reference as the register makes them (DSR-1A2B3C4D).
REFERENCE = re.compile(r"[A-Za-z0-9-]{1,20}")

#: The fields an entry holds, by the entry's key: a change of any of them is
#: journalled.
JOURNALLED = {
    "request": "kind",
    "received_on": "received_on",
    "deadline": "deadline",
    "status": "status",
    "completed_on": "completed_on",
}
#: The days among them.
DAYS = ("received_on", "deadline", "completed_on")


def restored_requester():
    """Who asked, on a request of someone who was no customer re-created from
    the journal: not kept, said in the register's language."""
    return _("(not kept: type the requester from the original request)")


def restored_requesters():
    """restored_requester() in each of the register's languages: the text a
    re-created request holds in place of its requester, in whichever
    language the restore ran. It names nobody: the retention rule does not
    look for its words (the twelfth probe: it blanked "the", "from" and
    "original" in the request's own notes)."""
    texts = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            texts.add(restored_requester())
    return texts


def restored_note():
    """What a case re-created from the journal says in place of the text typed
    on it, in the register's language."""
    return _(
        "Restored from the journal after a restore of a backup; the request's details "
        "were not kept: add them from the original request."
    )


def case_journal_append(case):
    """Journal `case` (saved in this transaction) as it is now, durably,
    before the transaction commits."""
    identities = customers_identities([case.customer])[case.customer_id] if case.customer else []
    handler = case.handled_by
    journal_append(
        [
            {
                "kind": CASE,
                "reference": case.reference,
                "request": str(case.kind),
                "received_on": str(case.received_on),
                "deadline": str(case.deadline),
                "status": str(case.status),
                "completed_on": str(case.completed_on) if case.completed_on else None,
                "customer_id": case.customer_id,
                "created_at": identities[0][1].isoformat() if identities else None,
                "identities": identities_as_json(identities),
                "handled_by": handler.pk if handler else None,
                "handled_by_joined": handler.date_joined.isoformat() if handler else None,
                "logged_at": case.created_at.isoformat(),
                # When it was journalled: `backup --prune` reads it.
                "recorded_at": timezone.now().isoformat(),
            }
        ]
    )


def journalled_change(changes):
    """Whether a case_update's `changes` touch what the journal holds."""
    return any(field in changes for field in JOURNALLED.values())


def _state(entry):
    """The model's values an entry holds."""
    values = {field: entry[key] for key, field in JOURNALLED.items()}
    for field in DAYS:
        if values[field] is not None:
            values[field] = date.fromisoformat(values[field])
    return values


def _customer(entry, present):
    """The restored record the entry names, or None: its own id if that very
    record is there, else another of the person's records (a backup older
    than a merge holds them apart). `present`: {id: moment added}."""
    if entry.get("customer_id") is None:
        return None
    ours = sorted(pk for pk, added in identities_from_entry(entry) if present.get(pk) == added)
    if entry["customer_id"] in ours:
        return entry["customer_id"]
    return ours[0] if ours else None


@transaction.atomic
def cases_reapply(entries):
    """After a restore (see the module): re-create the journalled cases the
    register lacks and bring those it holds up to date. Returns (re-created
    cases, cases brought up to date), by reference."""
    latest = {entry["reference"]: entry for entry in entries_of(CASE, entries)}
    if not latest:
        return [], []
    held = {
        case.reference: case
        for case in DataSubjectRequest.objects.select_for_update().filter(reference__in=latest)
    }
    present = dict(
        Customer.objects.filter(
            pk__in={pk for entry in latest.values() for pk, _added in identities_from_entry(entry)}
        ).values_list("pk", "created_at")
    )
    accounts = dict(
        get_user_model()
        .objects.filter(pk__in={entry.get("handled_by") for entry in latest.values()} - {None})
        .values_list("pk", "date_joined")
    )
    created, updated = [], []
    for reference, entry in sorted(latest.items()):
        customer_id = _customer(entry, present)
        if reference in held:
            case, changes = _bring_up_to_date(held[reference], entry, customer_id)
            if not changes:
                continue
            updated.append(case)
        else:
            handler = entry.get("handled_by")
            if handler is not None and accounts.get(handler) != _moment(
                entry["handled_by_joined"]
            ):
                handler = None  # made after the backup, or the id is another account's now
            note, state = restored_note(), _state(entry)
            case = DataSubjectRequest.objects.create(
                reference=reference,
                customer_id=customer_id,
                # A request of someone who was no customer: its requester is
                # not kept (no names in the journal), said so in their place,
                # so that the register manager can type them from the original
                # request and answer or link it (its update form asks them).
                requester_name=restored_requester() if entry.get("customer_id") is None else "",
                identity_verification=note,
                # The outcome is the customer's to read (the access report):
                # the note only where the case was closed with one.
                outcome=note if state["status"] in DataSubjectRequest.CLOSED else "",
                handled_by_id=handler,
                created_at=_moment(entry["logged_at"]),
                **state,
            )
            changes = {
                field: ["", plain_value(value)] for field, value in _state(entry).items() if value
            }
            if customer_id is not None:
                changes["customer"] = ["", str(customer_id)]
            created.append(case)
        audit_event_create(
            action=AuditEvent.Action.CASE_RESTORED,
            target=case,
            detail={
                "via": "marketing_journal",
                "reference": reference,
                "created": reference not in held,
                "changes": changes,
            },
        )
    return created, updated


def _bring_up_to_date(case, entry, customer_id):
    """Give a case the backup holds the entry's state; returns it and the
    changes ({field: [old, new]}, empty when it has that state already)."""
    changes = {}
    for field, value in _state(entry).items():
        if plain_value(getattr(case, field)) != plain_value(value):
            changes[field] = [plain_value(getattr(case, field)), plain_value(value)]
            setattr(case, field, value)
    if case.customer_id is None and customer_id is not None:
        changes["customer"] = ["", str(customer_id)]
        case.customer_id = customer_id
        case.requester_name = case.requester_contact = ""
    if not changes:
        return case, changes
    # What was typed with the change since the backup is lost: said so.
    if "deadline" in changes and not case.extension_reason:
        case.extension_reason = restored_note()
    if "status" in changes and case.status in DataSubjectRequest.CLOSED and not case.outcome:
        case.outcome = restored_note()
    case.version += 1
    case.save()
    return case, changes


def _moment(text):
    return datetime.fromisoformat(text)


def check_case_entry(entry):
    """ValueError unless `entry` is a case the restore can re-create
    (`cases_reapply`): its reference, kind, status and days (a deadline
    before receipt is one: case_update refuses a new one, but a case saved
    with one before still closes, and older versions journalled them; it
    only makes the case overdue), the customer's identities or none, the
    account by id and the moment it was made or none, and when it was
    logged and journalled."""
    reference = entry.get("reference")
    if (
        not isinstance(reference, str)
        or not REFERENCE.fullmatch(reference)
        or entry.get("request") not in DataSubjectRequest.Kind.values
        or entry.get("status") not in DataSubjectRequest.Status.values
    ):
        raise ValueError("not a case of the journal")
    for key in ("received_on", "deadline"):
        _day(entry.get(key))
    if entry.get("completed_on") is not None:
        _day(entry["completed_on"])
    if entry.get("customer_id") is None:
        if entry.get("created_at") is not None or entry.get("identities"):
            raise ValueError("identities without a customer")
    else:
        check_journal_entry(entry)
        journal_moment(entry.get("created_at"))
    handler = entry.get("handled_by")
    if handler is not None:
        if not is_journal_id(handler):
            raise ValueError("handled_by")
        journal_moment(entry.get("handled_by_joined"))
    for key in ("logged_at", "recorded_at"):
        journal_moment(entry.get(key))


def _day(text):
    """A day as a case entry holds it (ISO text), not after the last year a
    journal's moment may fall in (registry.identities.YEARS); ValueError
    otherwise. A day in the last months of 9999 made a request whose update
    form failed for any new deadline (its limit, three months from receipt,
    in year 10000: the twelfth probe). An early day stays: older versions
    took a deadline as early as 0001-01-01 and journalled it, and a case
    saved with one still closes (and is journalled again)."""
    if not isinstance(text, str):
        raise ValueError("not a day")
    day = date.fromisoformat(text)
    if day.year > YEARS[-1]:
        raise ValueError("not a day of the calendar")
    return day


# A case stays when its customer is erased, as the request does: only time
# drops it at a prune.
register_entry_kind(CASE, check=check_case_entry, reapply=cases_reapply, prune=None)
