"""The marketing journal: what narrows marketing, and restrictions of
processing, outlive a restore.

A data protection audit found that restoring last night's backup lost the
objections and withdrawals recorded since: a customer who objected in the
morning was marketed to again. So every event of the consent ledger that
narrows marketing (an objection to direct marketing, a withdrawn consent, an
unsubscribe or spam complaint from the newsletter service) is also appended
to a file outside the database, MARKETING_JOURNAL_PATH, as the erasure
journal is: durably (fsync before the transaction commits: should the commit
fail, a restore records an objection the customer did make), owner-only, one
JSON object a line. An entry names the customer by id and the moment they
were added (so that a restore never gives it to someone else holding the id
later), and by every other such pair the person had ("identities": the
records merged into them and the kept record's moment before a merge,
registry.identities), the channel, the event and when it happened; no name,
no address.

After a restore, `marketing_journal_reapply` records again every journalled
event the restored ledger lacks (registry.backups). The ledger's state is its
latest event by when it happened, so an objection put back behind a later
consent that the backup holds leaves that consent the state, as it was in the
register the journal was written in.

Not journalled: consents given and objections lifted (a restore that forgets
one markets less, never more), and the objections a customer import gives
the customers it adds (the file's, the suppression list's): an import adds
its customers and their objections in one transaction, so a backup that
lacks the objection lacks the customer too. The objections and withdrawals
an import records for customers already in the register are journalled
(registry.imports.writing).

Restrictions of processing (GDPR art. 18, registry.rights.restriction) are
journalled in the same file, as entries of the kind "restriction" (the
ledger's events are of the kind "consent"; entries written before the kinds
have none and are the ledger's): the customer's identities as above, the
moment the restriction began and the moment it was journalled; no name, no
case. A merge that gives the kept record the restriction of the other one
journals it too, naming the person after the merge. After a restore,
`restrictions_reapply` restricts again, since the journalled moment, each
restored record that is one of the identities and is not restricted since
then, unless the restored audit trail holds a lift of that record at or
after that moment (the backup then knows the restriction ended).

A lift is not journalled: a restore of a backup made before a lift restricts
the customer again (more, never less); the register manager, who has told
the customer, lifts it again.

Data subject requests (registry.rights.models.DataSubjectRequest) are
journalled in the same file too, as entries of the kind "case"
(registry.rights.casejournal writes them and re-applies them after a
restore): the case's reference, its kind ("request"), dates and status, and
the customer's identities as above, or none; never the requester's name or
contact, never the text typed on the case.
"""

import fcntl
import json
import os
import re
from contextlib import contextmanager
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from registry.audit.models import CUSTOMER_TARGET, AuditEvent
from registry.audit.services import audit_event_create
from registry.identities import (
    check_journal_entry,
    customers_identities,
    identities_as_json,
    identities_from_entry,
    is_journal_id,
    journal_moment,
)
from registry.models import Consent, Customer
from registry.rights.models import DataSubjectRequest
from registry.roles import RoleCode

#: The ledger's events that narrow marketing.
NARROWING = (Consent.Event.OBJECTION, Consent.Event.CONSENT_WITHDRAWN)

#: The kinds of entries ("kind"); an entry without one is the ledger's.
CONSENT = "consent"
RESTRICTION = "restriction"
CASE = "case"

#: A case's reference as the register makes them (DSR-1A2B3C4D).
REFERENCE = re.compile(r"[A-Za-z0-9-]{1,20}")


class MarketingJournalError(Exception):
    """The journal cannot be read; the message says where."""


def marketing_journal_append(consents):
    """Append the narrowing events among `consents` (Consent rows just
    written, in this transaction) to the journal, durably. One query for the
    moments their customers were added."""
    narrowing = [consent for consent in consents if consent.event in NARROWING]
    if not narrowing:
        return
    customers = Customer.objects.filter(pk__in={c.customer_id for c in narrowing}).only(
        "pk", "created_at"
    )
    # Every (id, moment added) the customer had: a backup older than a merge
    # holds the person as the records merged (registry.identities).
    identities = customers_identities(list(customers))
    entries = []
    for consent in narrowing:
        recorder = consent.recorded_by
        entries.append(
            {
                "kind": CONSENT,
                "customer_id": consent.customer_id,
                "created_at": identities[consent.customer_id][0][1].isoformat(),
                "identities": identities_as_json(identities[consent.customer_id]),
                "channel": str(consent.channel),
                "event": str(consent.event),
                "occurred_at": consent.occurred_at.isoformat(),
                "method": str(consent.method),
                "complaint": consent.complaint,
                # The account by its id and when it was made, as the customer.
                # None for an event the register recorded by nobody.
                "recorded_by": recorder.pk if recorder else None,
                "recorded_by_joined": recorder.date_joined.isoformat() if recorder else None,
                "recorded_by_role": consent.recorded_by_role,
                "recorded_at": consent.recorded_at.isoformat(),
            }
        )
    journal_append(entries)


def journal_append(entries):
    """Append `entries` to the journal, durably (fsync): call it inside the
    transaction of the change, before it commits."""
    with _locked_journal() as journal:
        for entry in entries:
            journal.write(json.dumps(entry) + "\n")
        journal.flush()
        os.fsync(journal.fileno())


@contextmanager
def _locked_journal():
    """The journal opened for appending, with an exclusive lock (flock), so
    that `marketing_journal_prune`, which replaces the file, never drops a
    line written meanwhile: a writer that opened the replaced file opens the
    new one."""
    path = settings.MARKETING_JOURNAL_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    with os.fdopen(fd, "a", encoding="utf-8") as journal:  # closing releases the lock
        yield journal


def read_marketing_journal():
    """The journal's entries, oldest first. MarketingJournalError names a
    line that is not an entry (a restore checks this before it restores)."""
    path = settings.MARKETING_JOURNAL_PATH
    if not path.exists():
        return []
    entries = []
    with path.open(encoding="utf-8") as journal:
        for number, line in enumerate(journal, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                _check_entry(entry)
            except ValueError:
                raise MarketingJournalError(
                    f"Line {number} of the marketing journal {path} is not readable: "
                    "repair or remove that line, then restore again."
                ) from None
            entries.append(entry)
    return entries


def _check_entry(entry):
    """ValueError unless `entry` is one the restore can apply: by its kind, a
    case (`_check_case_entry`), or the person (check_journal_entry) and the
    moment added and then a narrowing event of a known channel and method
    and its moments (`marketing_journal_reapply`), or a restriction's
    moments (`restrictions_reapply`). Only JSON was checked before the tenth
    probe: an entry without a key, or with a moment that is none, stopped the
    restore after the backup was loaded, and an entry giving a consent was
    recorded as one."""
    if not isinstance(entry, dict):
        raise ValueError("not an entry")
    kind = entry.get("kind", CONSENT)
    if kind == CASE:
        _check_case_entry(entry)
        return
    check_journal_entry(entry)
    journal_moment(entry.get("created_at"))
    if kind == RESTRICTION:
        for key in ("restricted_since", "recorded_at"):
            journal_moment(entry.get(key))
        return
    if (
        kind != CONSENT
        or entry.get("event") not in NARROWING
        or entry.get("channel") not in Consent.Channel.values
        or entry.get("method") not in Consent.Method.values
        or not isinstance(entry.get("complaint"), bool)
        or entry.get("recorded_by_role") not in ("", *RoleCode.values)
        or not (entry.get("recorded_by") is None or is_journal_id(entry["recorded_by"]))
    ):
        raise ValueError("not an event of the journal")
    for key in ("occurred_at", "recorded_at"):
        journal_moment(entry.get(key))
    if entry.get("recorded_by") is not None:
        journal_moment(entry.get("recorded_by_joined"))


def _check_case_entry(entry):
    """ValueError unless `entry` is a case the restore can re-create
    (registry.rights.casejournal): its reference, kind, status and days,
    the customer's identities or none, the account by id and the moment it
    was made or none, and when it was logged and journalled."""
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
    """A day as a case entry holds it (ISO text); ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError("not a day")
    return date.fromisoformat(text)


def _moment(text):
    return datetime.fromisoformat(text)


@transaction.atomic
def marketing_journal_reapply(entries):
    """After a restore (and after the erasure journal): record again every
    journalled event that the ledger lacks, for each restored record the
    entry names (the id *and* the moment added, any of the pairs the person
    had: both records of a backup older than a merge get it; someone else
    holding the id gets nothing; a customer erased since is not there). Restoring twice adds
    nothing twice. Each event comes back as it was (when it happened, how,
    the recorder's role, and the account if the restored register has that
    very account), with an audit event. Returns the re-applied Consent rows."""
    entries = [entry for entry in entries if entry.get("kind", CONSENT) == CONSENT]
    if not entries:
        return []
    # An entry names the person by every (id, moment added) they had (a
    # merge: registry.identities); each restored record that is one of them
    # gets the event: a backup older than a merge holds both records.
    named = {entry_id: identities_from_entry(entry) for entry_id, entry in enumerate(entries)}
    customers = Customer.objects.filter(pk__in={pk for pairs in named.values() for pk, _ in pairs})
    added = dict(customers.values_list("pk", "created_at"))
    ours = [
        (pk, entry)
        for entry_id, entry in enumerate(entries)
        for pk in sorted({pk for pk, moment in named[entry_id] if added.get(pk) == moment})
    ]
    held = {
        (pk, channel, event, occurred_at)
        for pk, channel, event, occurred_at in Consent.objects.filter(
            customer_id__in={pk for pk, _entry in ours}, event__in=NARROWING
        ).values_list("customer_id", "channel", "event", "occurred_at")
    }
    accounts = dict(
        get_user_model()
        .objects.filter(pk__in={entry["recorded_by"] for _pk, entry in ours})
        .values_list("pk", "date_joined")
    )
    reapplied = []
    for customer_id, entry in ours:
        occurred_at = _moment(entry["occurred_at"])
        key = (customer_id, entry["channel"], entry["event"], occurred_at)
        if key in held:
            continue
        held.add(key)
        recorder = entry["recorded_by"]
        if recorder is not None and accounts.get(recorder) != _moment(entry["recorded_by_joined"]):
            recorder = None  # made after the backup (or another account now has its id)
        consent = Consent(
            customer_id=customer_id,
            channel=entry["channel"],
            event=entry["event"],
            occurred_at=occurred_at,
            method=entry["method"],
            complaint=entry["complaint"],
            recorded_by_id=recorder,
            recorded_by_role=entry["recorded_by_role"],
            recorded_at=_moment(entry["recorded_at"]),
        )
        consent.save()
        audit_event_create(
            action=AuditEvent.Action.CONSENT_RECORDED,
            target_key=("registry.customer", str(customer_id)),
            detail={
                "channel": entry["channel"],
                "event": entry["event"],
                "method": entry["method"],
                "occurred_at": entry["occurred_at"],
                "via": "marketing_journal",
            },
        )
        reapplied.append(consent)
    # The activity as it happened: the retention period counts from it.
    for consent in reapplied:
        Customer.objects.filter(pk=consent.customer_id).mark_active(consent.recorded_at)
    return reapplied


def restriction_journal_append(customer):
    """Journal that `customer` (saved in this transaction) is restricted
    since its `restricted_since`, durably, before the transaction commits.
    Named by every identity the person has had (registry.identities): after
    a merge, those of the record merged into them too."""
    identities = customers_identities([customer])[customer.pk]
    journal_append(
        [
            {
                "kind": RESTRICTION,
                "customer_id": customer.pk,
                "created_at": identities[0][1].isoformat(),
                "identities": identities_as_json(identities),
                "restricted_since": customer.restricted_since.isoformat(),
                # When it was journalled: `backup --prune` reads it.
                "recorded_at": timezone.now().isoformat(),
            }
        ]
    )


@transaction.atomic
def restrictions_reapply(entries):
    """After a restore (and after the erasure journal): restrict again each
    restored record that a journalled restriction names (the id *and* the
    moment added, any of the pairs the person had; someone else holding the
    id gets nothing; a customer erased since is not there), since the
    journalled moment, unless it is restricted since then already or the
    restored audit trail holds a lift of it at or after that moment (the
    backup knows that restriction ended; a lift after the backup is not
    journalled, so the restriction comes back). Of several entries of one
    record the latest moment counts. Each is audited, by nobody, with
    "via": "marketing_journal". Returns the restricted customers."""
    entries = [entry for entry in entries if entry.get("kind") == RESTRICTION]
    if not entries:
        return []
    named = [(entry, identities_from_entry(entry)) for entry in entries]
    customers = {
        customer.pk: customer
        for customer in Customer.objects.select_for_update().filter(
            pk__in={pk for _entry, pairs in named for pk, _added in pairs}
        )
    }
    since = {}
    for entry, pairs in named:
        moment = _moment(entry["restricted_since"])
        for pk, added in pairs:
            customer = customers.get(pk)
            if customer is not None and customer.created_at == added:
                since[pk] = max(moment, since.get(pk, moment))
    lifted = {}
    for target_id, at in AuditEvent.objects.filter(
        action=AuditEvent.Action.CUSTOMER_RESTRICTION_LIFTED,
        target_type=CUSTOMER_TARGET,
        target_id__in=[str(pk) for pk in since],
    ).values_list("target_id", "at"):
        lifted[int(target_id)] = max(at, lifted.get(int(target_id), at))
    restricted = []
    for pk, moment in sorted(since.items()):
        customer = customers[pk]
        if customer.restricted_since is not None and customer.restricted_since >= moment:
            continue
        if pk in lifted and lifted[pk] >= moment:
            continue
        customer.restricted_since = moment
        # save(): the marketing counts hear that who may be reached changed.
        customer.save(update_fields=["restricted_since", "updated_at"])
        audit_event_create(
            action=AuditEvent.Action.CUSTOMER_RESTRICTED,
            target=customer,
            detail={
                "via": "marketing_journal",
                "restricted_since": moment.isoformat(timespec="seconds"),
            },
        )
        restricted.append(customer)
    return restricted


def marketing_journal_prune(*, before, erased=()):
    """Drop the entries recorded before `before` (every backup still kept
    holds their events and cases) and the events and restrictions of
    customers erased since (`erased`: (id, moment added or None) pairs, as
    the erasure journal names them; a restore erases them again before it
    would read these); their cases stay, as the requests do. The kept lines
    stay as they were, in a new owner-only file that replaces the old one
    at once. Returns how many entries were dropped."""
    path = settings.MARKETING_JOURNAL_PATH
    if not path.exists():
        return 0
    gone_ids = {pk for pk, added in erased if added is None}
    gone = {(pk, added) for pk, added in erased if added is not None}
    with _locked_journal():
        lines = [
            line
            for line in path.read_text(encoding="utf-8").splitlines(keepends=True)
            if line.strip()
        ]
        kept = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                kept.append(line)  # not ours to drop: a restore names it
                continue
            if _moment(entry["recorded_at"]) < before:
                continue
            if entry.get("kind") == CASE:
                # The request stays when its customer is erased: only time drops it.
                kept.append(line)
                continue
            pk, added = entry["customer_id"], _moment(entry["created_at"])
            if pk in gone_ids or (pk, added) in gone:
                continue
            kept.append(line)
        if len(kept) == len(lines):
            return 0
        scratch = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as new:
            new.writelines(kept)
            new.flush()
            os.fsync(new.fileno())
        os.replace(scratch, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return len(lines) - len(kept)
