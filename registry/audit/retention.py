"""How long the audit trail keeps the values that may name someone
(manage.py prune_logs).

An event says who did what, when, to which object and how many: the access
report, the access review, the reports and the health page read that for as
long as the register exists, so the event stays. What a user typed that may
name a person does not: the words of a customer search (which may name
someone who was never added to the register, so no erasure reaches them),
a city typed in the customer list's filter, and a user name typed at the
login (sometimes a password), the reason typed when a session was
cancelled (it may name an instructor or a relative), nor the address a
user came from. After
AUDIT_KEEP_MONTHS these are replaced by ERASED, or forgotten, in one UPDATE
whatever the number of events. Each rewritten event
is marked as an erasure marks it (`scrubbed_at`, the moment of the run's own
event); an event an erasure marked keeps its mark.
"""

import itertools

from django.db.models import Case, Count, Q, When

from registry.erasure import ERASED
from registry.expressions import JSONObjectPatch

from .models import AuditEvent

#: Where in `detail` a user's typed text is kept (a key, or the path of keys
#: to it), and the actions that write it. The customer list's filters are
#: kept under `filters`: its city is typed (it may be where one person
#: lives); the others are choices (how the relationship began, a channel,
#: the sort), an import's or a course's number and a page number, which name
#: nobody. tests/test_prune_logs.py holds this to the list's form.
TYPED_VALUES = {
    ("query",): [AuditEvent.Action.CUSTOMER_SEARCHED],
    ("username",): [AuditEvent.Action.LOGIN_FAILED, AuditEvent.Action.LOCKOUT],
    ("filters", "city"): [AuditEvent.Action.CUSTOMER_SEARCHED],
    # A session's cancellation (courses.services.session_cancel).
    ("reason",): [AuditEvent.Action.COURSE_CHANGED],
}

#: The name of each count the run reports, by the value it blanks.
COUNT_NAMES = {
    ("query",): "search_words",
    ("username",): "user_names",
    ("filters", "city"): "filter_values",
    ("reason",): "cancel_reasons",
}

#: Typed texts kept outside the trail for as long as its values: {the name
#: of the count: prune(before=, dry_run=) -> how many were (or would be)
#: blanked}. Registered by their owners (typed_text_pruner), so that the
#: trail imports nothing above it; manage.py prune_logs runs each.
_typed_texts = {}


def typed_text_pruner(name, *, label):
    """Register `prune(*, before, dry_run)` for manage.py prune_logs: it
    blanks (or, on a dry run, counts) the typed texts of its owner that are
    due at `before` (the AUDIT_KEEP_MONTHS limit), and returns how many.
    `name` is its count's key in the run's event, `label` what the command
    prints before the count."""

    def register(prune):
        prune.label = label
        _typed_texts[name] = prune
        return prune

    return register


def typed_texts_prune(*, before, dry_run=False):
    """Run every registered typed_text_pruner: {its name: its count}."""
    return {
        name: prune(before=before, dry_run=dry_run) for name, prune in sorted(_typed_texts.items())
    }


def typed_text_labels():
    """{name: label} of every registered typed_text_pruner."""
    return {name: prune.label for name, prune in _typed_texts.items()}


def _holding(path):
    """Events whose value at `path` still holds a typed text (not empty, not erased)."""
    *within, key = path
    lookup = "__".join(["detail", *within])
    return (
        Q(action__in=TYPED_VALUES[path])
        & Q(**{f"{lookup}__has_key": key})
        & ~Q(**{f"{lookup}__{key}__in": ["", ERASED]})
    )


def _held_together():
    """The combinations of typed values one event may hold (those written
    by a same action), the largest first: a CASE takes the first that holds,
    so an event holding two is patched by the branch that blanks both."""
    paths = list(TYPED_VALUES)
    return [
        combination
        for size in range(len(paths), 0, -1)
        for combination in itertools.combinations(paths, size)
        if set.intersection(*(set(TYPED_VALUES[path]) for path in combination))
    ]


def audit_values_due(before):
    """Events from before `before` that still hold an address or a typed value."""
    holding = Q(ip_address__isnull=False)
    for path in TYPED_VALUES:
        holding |= _holding(path)
    return AuditEvent.objects.filter(holding, at__lt=before)


def audit_values_count(before):
    """{events, ip_addresses, and a count of each of COUNT_NAMES} due, in one query."""
    return audit_values_due(before).aggregate(
        events=Count("pk"),
        ip_addresses=Count("pk", filter=Q(ip_address__isnull=False)),
        **{COUNT_NAMES[path]: Count("pk", filter=_holding(path)) for path in TYPED_VALUES},
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
                        Q(*(_holding(path) for path in paths)),
                        then=JSONObjectPatch(
                            "detail", replace=dict.fromkeys(paths, ERASED), add=mark
                        ),
                    )
                    for paths in _held_together()
                ),
                default=JSONObjectPatch("detail", add=mark),
            )
        )
    return counts
