"""Customers added with a suppressed address before the list gave them an
objection (registry.repairs).

Before b957500 a customer added, by an import or by hand, with an email
address or phone number on the suppression list (an erased objector's,
registry.suppression) got no objection: only a warning, and the import left
out the file's consents. Post and phone are opt-out, so such a customer was
on those marketing lists. The register now gives them an objection to
direct marketing, method "suppression list", dated when the address was
put on the list, recorded and audited as the user who added them
(customer_create, the import's writer). This gives the same to the
customers added before, whose address was on the list when they were added.

Unless the customer decided since: their ledger holds, dated at or after
the moment the address was put on the list, an event on the direct
marketing channel (an objection lifted, or an objection: they object
already) or a consent given for email or SMS (staff recorded that they want
it, after the list's moment, as the consent form requires for a suppressed
address; an objection now would silently take it back). A withdrawal since
is no such decision: it narrows, as the objection does. A customer whose
latest direct-marketing event is an objection already gets nothing more.
"""

from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry.audit.models import CUSTOMER_TARGET, AuditEvent
from registry.models import Consent, Customer
from registry.repairs import register_repair
from registry.services import consent_record
from registry.suppression import digests_of

from .models import SuppressedContact

#: This repair's name (registry.repairs).
REPAIR = "suppression_objections"

#: Customers whose ledgers are read in one query.
CUSTOMERS_AT_ONCE = 1000

#: Events since the list's moment that are the customer's own decision.
DECIDED = Q(channel=Consent.Channel.DIRECT_MARKETING) | Q(
    channel__in=[Consent.Channel.EMAIL, Consent.Channel.SMS],
    event=Consent.Event.CONSENT_GIVEN,
)


def _checked_until():
    """When the last run of manage.py repair_register left no such customer,
    or None: the customers added before were checked then, and those added
    since were added by the register that gives the objection itself."""
    last = (
        AuditEvent.objects.filter(action=AuditEvent.Action.REGISTER_REPAIRED)
        .order_by("-at", "-id")
        .values_list("at", "detail")
        .first()
    )
    at, detail = last or (None, None)
    left = detail.get("left") if isinstance(detail, dict) else None
    return at if isinstance(left, dict) and left.get(REPAIR) == 0 else None


def _on_the_list():
    """{customer id: when their address was put on the list} of the
    customers whose email or phone is on it and was when they were added.
    Only those added since the last run that left none are read (after
    it, a page view of the health page hashes the few added since, not the
    whole register)."""
    found = dict(SuppressedContact.objects.values_list("digest", "suppressed_at"))
    if not found:
        return {}
    customers = Customer.objects.exclude(email="", phone="").filter(
        created_at__gte=min(found.values())
    )
    if checked := _checked_until():
        customers = customers.filter(created_at__gt=checked)
    listed = {}
    rows = customers.values_list("pk", "email", "phone", "created_at")
    for pk, email, phone, created_at in rows.iterator(chunk_size=2000):
        # The phone is stored valid, in E.164, as an import's checked row has it.
        digests = digests_of(email=email, valid_e164=str(phone or ""))
        moments = [found[value] for value in digests if value in found]
        if moments and min(moments) <= created_at:
            listed[pk] = min(moments)
    return listed


def _undecided(listed):
    """Those of `listed` ({id: moment}) still without the objection, who
    have not decided since (the module's rule)."""
    ids = sorted(listed)
    due = {}
    for start in range(0, len(ids), CUSTOMERS_AT_ONCE):
        chunk = ids[start : start + CUSTOMERS_AT_ONCE]
        ledger = defaultdict(list)
        events = (
            Consent.objects.filter(customer_id__in=chunk)
            .filter(DECIDED)
            .order_by("occurred_at", "id")
            .values_list("customer_id", "channel", "event", "occurred_at")
        )
        for customer_id, channel, event, occurred_at in events:
            ledger[customer_id].append((channel, event, occurred_at))
        for pk in chunk:
            since = listed[pk]
            decided = any(at >= since for _c, _e, at in ledger[pk])
            direct = [e for c, e, _at in ledger[pk] if c == Consent.Channel.DIRECT_MARKETING]
            objecting = bool(direct) and direct[-1] == Consent.Event.OBJECTION
            if not decided and not objecting:
                due[pk] = since
    return due


def suppression_objections_due():
    """How many customers added with a suppressed address still lack the objection."""
    return len(_undecided(_on_the_list()))


def _adders(ids):
    """{customer id: the account that added them}: the *customer added*
    event's, else the import's uploader."""
    added_by = dict(
        AuditEvent.objects.filter(
            action=AuditEvent.Action.CUSTOMER_CREATED,
            target_type=CUSTOMER_TARGET,
            target_id__in=[str(pk) for pk in ids],
            actor__isnull=False,
        )
        .order_by("at")
        .values_list("target_id", "actor")
    )
    uploaded_by = dict(
        Customer.objects.filter(pk__in=ids, imported_in__isnull=False).values_list(
            "pk", "imported_in__created_by"
        )
    )
    users = get_user_model().objects.in_bulk({*added_by.values(), *uploaded_by.values()} - {None})
    return {
        pk: users[user_id]
        for pk in ids
        if (user_id := added_by.get(str(pk)) or uploaded_by.get(pk)) in users
    }


@register_repair(
    REPAIR,
    label=_("customers added with an address on the suppression list, without its objection"),
    due=suppression_objections_due,
)
def suppression_objections_record(now):
    """Give each customer added with a suppressed address, who has not
    decided since, the objection the register now gives: to direct
    marketing, method "suppression list", dated when the address was put on
    the list, recorded as the user who added them (consent_record: audited,
    saying it came from this repair, and journalled, as every objection is;
    no activity of the customer's). A customer whose adder the register
    does not know (a script, demo data) gets it by nobody, as a restore
    records an event whose account is gone: left without it, the customer
    stayed on post and phone lists, and the health page read the whole
    register on every view. Returns how many objections were recorded."""
    due = _undecided(_on_the_list())
    ids = sorted(due)
    recorded = 0
    for start in range(0, len(ids), CUSTOMERS_AT_ONCE):
        chunk = ids[start : start + CUSTOMERS_AT_ONCE]
        adders = _adders(chunk)
        # Locked, then their ledgers read again: a decision recorded since
        # they were read (a consent to email, by staff) stays the customer's
        # (the eleventh probe). consent_record locks the customer too, so
        # none is recorded between this reading and the objection.
        locked = Customer.objects.select_for_update().filter(pk__in=chunk).order_by("pk")
        undecided = _undecided({pk: due[pk] for pk in locked.values_list("pk", flat=True)})
        customers = Customer.objects.in_bulk(list(undecided))
        for pk, customer in sorted(customers.items()):
            consent_record(
                customer=customer,
                channel=Consent.Channel.DIRECT_MARKETING,
                event=Consent.Event.OBJECTION,
                method=Consent.Method.SUPPRESSION_LIST,
                occurred_at=due[pk],
                by=adders.get(pk),
                via="repair_register",
                activity=False,
            )
        recorded += len(customers)
    return recorded
