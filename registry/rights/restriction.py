"""Restriction of processing (GDPR art. 18): the customer's data is only
stored while the restriction lasts.

`Customer.restricted_since` says since when. What it stops is read where
each use of the data is decided, so that no path can forget it: marketing in
CustomerQuerySet.contactable_by (every list, count and export), new
enrolments and course messages in courses, retention in
retention_candidates. Correcting the data (art. 16) stays possible, and the
whole-register export and the access report still hold the customer.

Setting a restriction is journalled outside the database, so that a
restore of an older backup restricts the customer again: in the marketing
journal (registry.journal), as entries of the kind "restriction" (the
consent ledger's are of the kind "consent"): the customer's identities
(registry.identities: the id and the moment added, and every other such
pair the person had), the moment the restriction began and the moment it
was journalled; no name, no case. A merge that gives the kept record the
restriction of the other one journals it too, naming the person after the
merge (through a merge listener, registry.merge: the core's merge does not
know of the rights). After a restore,
`restrictions_reapply` restricts again, since the journalled moment, each
restored record that is one of the identities and is not restricted since
then, unless the restored audit trail holds a lift of that record at or
after that moment (the backup then knows the restriction ended).

A lift is not journalled: a restore of a backup made before a lift restricts
the customer again (more, never less); the register manager, who has told
the customer, lifts it again (see customer_restriction_lift).
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from registry.audit.models import CUSTOMER_TARGET, AuditEvent
from registry.audit.services import audit_event_create
from registry.identities import (
    check_journal_entry,
    customers_identities,
    identities_as_json,
    identities_from_entry,
    journal_moment,
)
from registry.journal import customer_erased, entries_of, journal_append, register_entry_kind
from registry.merge import merge_listener
from registry.models import Customer

from .models import DataSubjectRequest
from .services import case_update

#: The kind of a restriction's entries in the marketing journal.
RESTRICTION = "restriction"


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

    A lift is not journalled (see the module): a restore of a
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


@merge_listener
def _journal_the_merged_restriction(*, keep, changes):
    """A merge that gave the kept record a restriction (the other record's,
    earlier): the kept record is restricted from now on, journalled as the
    person after the merge (its event names both records), so that a restore
    of a backup older than the merge restricts both records. Called inside
    the merge's transaction (registry.merge.merge_listener)."""
    if "restricted_since" in changes:
        restriction_journal_append(keep)


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
    entries = entries_of(RESTRICTION, entries)
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


def check_restriction_entry(entry):
    """ValueError unless `entry` is a restriction the restore can apply: the
    person (check_journal_entry), the moment added, and its moments
    (`restrictions_reapply`)."""
    check_journal_entry(entry)
    journal_moment(entry.get("created_at"))
    for key in ("restricted_since", "recorded_at"):
        journal_moment(entry.get(key))


def _moment(text):
    return datetime.fromisoformat(text)


# A restriction of a customer erased since goes at a prune (a restore erases
# them again before it would read it).
register_entry_kind(
    RESTRICTION,
    check=check_restriction_entry,
    reapply=restrictions_reapply,
    prune=customer_erased,
)
