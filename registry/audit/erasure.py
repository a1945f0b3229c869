"""The audit trail's part of an erasure (see registry.erasure)."""

from registry.erasure import ERASED, erasure_handler

from .models import CUSTOMER_TARGET, AuditEvent, AuditEventCustomer

#: Audit actions whose detail may hold values a user typed or a field held:
#: search words, old and new values, user names typed at the login, the
#: purposes of exports, file names (people name files after people: "Erkki
#: Virtanen yhteystiedot.xlsx") and reasons.
ACTIONS_WITH_VALUES = {
    AuditEvent.Action.CUSTOMER_SEARCHED,
    AuditEvent.Action.CUSTOMER_CHANGED,
    AuditEvent.Action.CUSTOMER_MERGED,
    AuditEvent.Action.LOGIN_FAILED,
    AuditEvent.Action.LOCKOUT,
    AuditEvent.Action.MARKETING_LIST_EXPORTED,
    AuditEvent.Action.PARTICIPANT_LIST_EXPORTED,
    AuditEvent.Action.REGISTER_EXPORTED,
    AuditEvent.Action.CASE_LOGGED,
    AuditEvent.Action.CASE_UPDATED,
    AuditEvent.Action.ACCOUNT_DEACTIVATED,
    AuditEvent.Action.IMPORT_UPLOADED,
    AuditEvent.Action.CUSTOMERS_IMPORTED,
    AuditEvent.Action.IMPORT_UNDONE,
    AuditEvent.Action.IMPORT_REJECTS_DOWNLOADED,
    AuditEvent.Action.UNSUBSCRIBES_IMPORTED,
}


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
