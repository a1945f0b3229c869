"""How long the audit trail keeps the values that may name someone
(manage.py prune_logs).

An event says who did what, when, to which object and how many: the access
report, the access review, the reports and the health page read that for as
long as the register exists, so the event stays. What a user typed that may
name a person does not: the words of a customer search (which may name
someone who was never added to the register, so no erasure reaches them) and
a user name typed at the login (sometimes a password), nor the address a
user came from. After AUDIT_KEEP_MONTHS these are replaced by ERASED, or
forgotten, in one UPDATE whatever the number of events. Each rewritten event
is marked as an erasure marks it (`scrubbed_at`, the moment of the run's own
event); an event an erasure marked keeps its mark.
"""

from django.db.models import Case, Count, Q, When

from registry.erasure import ERASED
from registry.expressions import JSONObjectPatch

from .models import AuditEvent

#: The keys of `detail` that hold what a user typed, and the actions that write them.
TYPED_VALUES = {
    "query": [AuditEvent.Action.CUSTOMER_SEARCHED],
    "username": [AuditEvent.Action.LOGIN_FAILED, AuditEvent.Action.LOCKOUT],
}

#: The name of each count the run reports, by the key it blanks.
COUNT_NAMES = {"query": "search_words", "username": "user_names"}


def _holding(key):
    """Events whose `key` still holds a typed value (not empty, not erased)."""
    return (
        Q(action__in=TYPED_VALUES[key])
        & Q(detail__has_key=key)
        & ~Q(**{f"detail__{key}__in": ["", ERASED]})
    )


def audit_values_due(before):
    """Events from before `before` that still hold an address or a typed value."""
    holding = Q(ip_address__isnull=False)
    for key in TYPED_VALUES:
        holding |= _holding(key)
    return AuditEvent.objects.filter(holding, at__lt=before)


def audit_values_count(before):
    """{events, ip_addresses, search_words, user_names} due, in one query."""
    return audit_values_due(before).aggregate(
        events=Count("pk"),
        ip_addresses=Count("pk", filter=Q(ip_address__isnull=False)),
        **{COUNT_NAMES[key]: Count("pk", filter=_holding(key)) for key in TYPED_VALUES},
    )


def audit_values_prune(*, before, at):
    """Blank the typed values and forget the addresses of the events from
    before `before`, marking them `scrubbed_at` `at`. Returns the counts of
    audit_values_count; a second run finds nothing."""
    counts = audit_values_count(before)
    if counts["events"]:
        mark = {"scrubbed_at": at.isoformat(timespec="seconds")}
        audit_values_due(before).prune(
            Case(
                *(
                    When(
                        _holding(key),
                        then=JSONObjectPatch("detail", replace={key: ERASED}, add=mark),
                    )
                    for key in TYPED_VALUES
                ),
                default=JSONObjectPatch("detail", add=mark),
            )
        )
    return counts
