"""The marketing journal's consents: what narrows marketing outlives a
restore.

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

The journal is a building block of the core (registry.journal: the file,
its lock, the durable append, the reading that checks each line, the
prune); the ledger's events are its entries of the kind "consent"
(registered at the end of this module; entries written before the kinds have
none and are these). Restrictions of processing (registry.rights.restriction)
and data subject requests (registry.rights.casejournal) are entries of the
same file, of their own kinds.
"""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.identities import (
    check_journal_entry,
    customers_identities,
    identities_as_json,
    identities_from_entry,
    is_journal_id,
    journal_moment,
)
from registry.journal import (
    DEFAULT_KIND,
    customer_erased,
    entries_of,
    journal_append,
    register_entry_kind,
)
from registry.models import Consent, Customer
from registry.roles import RoleCode

#: The ledger's events that narrow marketing.
NARROWING = (Consent.Event.OBJECTION, Consent.Event.CONSENT_WITHDRAWN)

#: The kind of the ledger's entries ("kind"); an entry without one is the ledger's.
CONSENT = DEFAULT_KIND


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


def check_consent_entry(entry):
    """ValueError unless `entry` is an event the restore can apply: the
    person (check_journal_entry) and the moment added, then a narrowing
    event of a known channel and method, the recorder's role and account,
    and its moments (`marketing_journal_reapply`)."""
    check_journal_entry(entry)
    journal_moment(entry.get("created_at"))
    if (
        entry.get("kind", CONSENT) != CONSENT
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
    entries = entries_of(CONSENT, entries)
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


# An event of a customer erased since goes at a prune (a restore erases them
# again before it would read it).
register_entry_kind(
    CONSENT, check=check_consent_entry, reapply=marketing_journal_reapply, prune=customer_erased
)
