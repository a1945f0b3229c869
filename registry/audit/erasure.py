"""The audit trail's part of an erasure (see registry.erasure)."""

from registry.erasure import ERASED, erasure_handler

from .models import CUSTOMER_TARGET, AuditEvent, AuditEventCustomer

#: Audit actions whose detail holds only codes, ids, numbers and times: the
#: keys each writes, none of them a value a user typed or a field held. An
#: erasure scrubs the events of every other action (ACTIONS_WITH_VALUES):
#: search words, old and new values, user names typed at the login, the
#: purposes of exports, file names (people name files after people: "Erkki
#: Virtanen yhteystiedot.xlsx"), reasons (of a deactivation, of a cancelled
#: session), names typed in admin. So an action added later is scrubbed
#: until it is listed here; tests/test_erasure_courses.py reads every place
#: the code writes an event and fails when a listed action writes a key not
#: listed with it (say, a reason added later).
ACTIONS_WITHOUT_VALUES = {
    AuditEvent.Action.LOGIN: frozenset(),
    AuditEvent.Action.LOGOUT: frozenset(),
    AuditEvent.Action.PASSWORD_CHANGED: frozenset(),
    AuditEvent.Action.ACCOUNT_CREATED: frozenset({"by", "role"}),
    AuditEvent.Action.CUSTOMER_VIEWED: frozenset({"via"}),
    # The names of the fields that had a value, and the import's number.
    AuditEvent.Action.CUSTOMER_CREATED: frozenset({"fields", "import"}),
    # `text` is the wording's channel and version ("email v3"); the number of
    # the newsletter service's file it came from, or of the customer import
    # that recorded it.
    AuditEvent.Action.CONSENT_RECORDED: frozenset(
        {
            "channel",
            "event",
            "method",
            "text",
            "occurred_at",
            "complaint",
            "unsubscribe_import",
            "import",
            "via",
        }
    ),
    AuditEvent.Action.COURSE_CREATED: frozenset({"sessions"}),
    AuditEvent.Action.ENROLLED: frozenset({"course_id", "status", "source"}),
    AuditEvent.Action.ENROLLMENT_CANCELLED: frozenset({"course_id"}),
    AuditEvent.Action.WAITLIST_PROMOTED: frozenset({"course_id"}),
    # `changes`: the old and new mark of each enrolment, by its number.
    AuditEvent.Action.ATTENDANCE_MARKED: frozenset(
        {"session_id", "session_starts_at", "correction", "changes"}
    ),
    AuditEvent.Action.PARTICIPANT_LIST_VIEWED: frozenset(
        {"view", "audience", "session_id", "page", "rows"}
    ),
    AuditEvent.Action.ACCESS_REPORT_VIEWED: frozenset(),
    AuditEvent.Action.ACCESS_REPORT_EXPORTED: frozenset(),
    AuditEvent.Action.CUSTOMER_ERASED: frozenset(
        {"customer_id", "reference", "reason", "rewritten"}
    ),
    # `via` and `restricted_since` when a restore set it again from the journal.
    AuditEvent.Action.CUSTOMER_RESTRICTED: frozenset(
        {"case_id", "reference", "via", "restricted_since"}
    ),
    AuditEvent.Action.CUSTOMER_RESTRICTION_LIFTED: frozenset(
        {"restricted_since", "case_id", "reference"}
    ),
    # A case a restore re-created or brought up to date from the journal: its
    # reference, and the old and new kind, days, status and customer id.
    AuditEvent.Action.CASE_RESTORED: frozenset({"via", "reference", "created", "changes"}),
    # The filters are chosen, not typed: a user, an action, dates, a number.
    AuditEvent.Action.AUDIT_TRAIL_EXPORTED: frozenset({"filters", "rows"}),
    AuditEvent.Action.TWO_FACTOR_ENABLED: frozenset(),
    AuditEvent.Action.TWO_FACTOR_FAILED: frozenset({"during"}),
    AuditEvent.Action.TWO_FACTOR_REPLACED: frozenset(),
    AuditEvent.Action.MESSAGE_QUEUED: frozenset(
        {"message_id", "kind", "course_id", "session_id", "state"}
    ),
    AuditEvent.Action.MESSAGE_RESENT: frozenset({"message_id", "kind"}),
    AuditEvent.Action.ACCOUNT_LOCKED: frozenset({"failures", "minutes"}),
    AuditEvent.Action.ACCOUNT_UNLOCKED: frozenset(),
    AuditEvent.Action.ACCOUNT_REACTIVATED: frozenset(),
    AuditEvent.Action.RETENTION_RUN: frozenset({"erased", "skipped", "requesters", "cutoff"}),
    # The ledger event by its number, its codes, the import's number, and
    # when it was dated before and after.
    AuditEvent.Action.CONSENT_REDATED: frozenset(
        {"consent_id", "channel", "event", "method", "import", "occurred_at_was", "occurred_at"}
    ),
    # How many rows each repair (registry.repairs, by its code) repaired,
    # and left as they were.
    AuditEvent.Action.REGISTER_REPAIRED: frozenset({"repaired", "left"}),
}

ACTIONS_WITH_VALUES = set(AuditEvent.Action) - set(ACTIONS_WITHOUT_VALUES)


def _erase_changes(detail):
    """On an event about the erased customer, every changed value goes."""
    if "changes" not in detail:
        return detail
    return {**detail, "changes": {field: [ERASED, ERASED] for field in detail["changes"]}}


@erasure_handler("registry.auditevent")
def _erase_from_audit_trail(erasure):
    """Scrub personal values from the audit trail: every event about the
    customers (and the records merged into them), whose changed values all
    go, and every event of a kind that may hold typed values. The events
    themselves stay: the trail keeps saying who did what, without the person.

    Names match where a word starts, so "Aho" also blanks the searches for
    "Ahonen": the side of caution. Each rewritten event says when it was
    (`scrubbed_at`, the moment of the erasure's own event), so an auditor
    can tell an erasure's rewrite from tampering."""
    ids = [str(pk) for pk in erasure.customer_ids]
    # Which lists showed them goes with them (AuditEventCustomer); the list
    # reads stay, saying who looked at how many, no longer whom.
    # The links name ids, those of records merged into them too.
    merged = {int(pk) for c in erasure.customers for pk in AuditEvent.objects.customer_ids(c)}
    AuditEventCustomer.objects.erase(erasure.customer_ids | merged)
    about = AuditEvent.objects.filter(target_type=CUSTOMER_TARGET, target_id__in=ids)
    candidates = AuditEvent.objects.filter(action__in=ACTIONS_WITH_VALUES) | about
    for event in candidates.only("id", "detail", "target_type", "target_id").iterator(
        chunk_size=2000
    ):
        scrubbed = erasure.scrub(event.detail)
        if event.target_type == CUSTOMER_TARGET and event.target_id in ids:
            scrubbed = _erase_changes(scrubbed)
        if scrubbed != event.detail:
            scrubbed["scrubbed_at"] = erasure.at.isoformat(timespec="seconds")
            AuditEvent.objects.scrub(event.pk, scrubbed)
            erasure.rewrote("registry.auditevent")
