"""The rights of the data subject (GDPR articles 15-17 and 20): requests as
cases, access reports, erasure and retention. Writes are atomic and audited,
with `by=` the acting user."""

import json
import os
import re
import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from .audit.models import AuditEvent
from .audit.services import audit_event_create
from .changes import changes_apply, plain_value
from .concurrency import check_version
from .imports.services import imports_discard_files, imports_scrub
from .models import Consent, Customer, DataSubjectRequest, add_months, one_month_after
from .phones import format_phone, national_digits
from .services import CUSTOMER_FIELDS

ERASED = "[poistettu]"

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
    AuditEvent.Action.REQUEST_LOGGED,
    AuditEvent.Action.REQUEST_UPDATED,
    AuditEvent.Action.ACCOUNT_DEACTIVATED,
    AuditEvent.Action.IMPORT_UPLOADED,
    AuditEvent.Action.CUSTOMERS_IMPORTED,
    AuditEvent.Action.IMPORT_UNDONE,
    AuditEvent.Action.IMPORT_REJECTS_DOWNLOADED,
}

#: The notes typed on a data subject request.
REQUEST_NOTES = ("identity_verification", "extension_reason", "outcome")

REQUEST_FIELDS = (
    "kind",
    "received_on",
    "identity_verification",
    "deadline",
    "extension_reason",
    "status",
    "completed_on",
    "outcome",
)


def new_reference():
    return f"DSR-{secrets.token_hex(4).upper()}"


# --- Requests as cases ---------------------------------------------------


@transaction.atomic
def request_log(*, customer, kind, received_on, identity_verification, by, request=None):
    """Log a request; its deadline is one month from receipt (GDPR art. 12(3))."""
    case = DataSubjectRequest.objects.create(
        reference=new_reference(),
        customer=customer,
        kind=kind,
        received_on=received_on,
        identity_verification=identity_verification,
        deadline=one_month_after(received_on),
        handled_by=by,
    )
    audit_event_create(
        action=AuditEvent.Action.REQUEST_LOGGED,
        by=by,
        target=case,
        request=request,
        detail={"kind": kind, "customer_id": customer.pk if customer else None},
    )
    return case


@transaction.atomic
def request_update(*, case, data, by, request=None, version=None):
    """Change a case: extend the deadline (with a reason), close it, note the outcome.

    `version` is the version the form was opened on: if the case has changed
    since, EditConflict is raised and nothing is saved."""
    case = DataSubjectRequest.objects.select_for_update().get(pk=case.pk)
    check_version((case, version), actions=[AuditEvent.Action.REQUEST_UPDATED])
    changes = changes_apply(case, data, REQUEST_FIELDS)
    if case.status in DataSubjectRequest.CLOSED and case.completed_on is None:
        case.completed_on = timezone.localdate()
        changes["completed_on"] = ["", case.completed_on.isoformat()]
    if changes:
        case.version += 1
        case.save()
        audit_event_create(
            action=AuditEvent.Action.REQUEST_UPDATED,
            by=by,
            target=case,
            request=request,
            detail={"changes": changes, "version": case.version},
        )
    return case


# --- Access and portability ----------------------------------------------


def access_report(customer):
    """Everything the register holds about one customer, as plain data.

    The structure is documented in the README (Access report). It is the same
    for the readable page and the JSON download.
    """
    enrollments = customer.enrollments.select_related("course").order_by("course__starts_at")
    events = AuditEvent.objects.for_customer(customer).select_related("actor").order_by("at", "id")
    return {
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "controller": settings.REGISTER_CONTROLLER["name"],
        "customer": {
            "id": customer.pk,
            **{field: plain_value(getattr(customer, field)) for field in CUSTOMER_FIELDS},
            "source_label": str(customer.get_source_display()),
            "created_at": customer.created_at.isoformat(timespec="seconds"),
            "updated_at": customer.updated_at.isoformat(timespec="seconds"),
            "last_activity_at": customer.last_activity_at.isoformat(timespec="seconds"),
            # Where the data came from (GDPR art. 15(1)(g)), when it was a file.
            "imported_from": (
                f"{customer.imported_in.file_name} ({customer.imported_in.created_at:%Y-%m-%d})"
                if customer.imported_in
                else ""
            ),
        },
        "consents": [
            {
                "occurred_at": consent.occurred_at.isoformat(timespec="seconds"),
                "channel": consent.channel,
                "event": consent.event,
                "method": consent.method,
                "wording_version": consent.text.version if consent.text else None,
                "wording": consent.text.wording if consent.text else "",
                "recorded_by": consent.recorded_by.get_username(),
            }
            for consent in customer.consents.select_related("text", "recorded_by").order_by(
                "occurred_at", "id"
            )
        ],
        "enrollments": [
            {
                "course": enrollment.course.title,
                "starts_at": enrollment.course.starts_at.isoformat(timespec="minutes"),
                "status": enrollment.status,
                "source": enrollment.source,
                "enrolled_at": enrollment.enrolled_at.isoformat(timespec="seconds"),
            }
            for enrollment in enrollments
        ],
        "processing": [
            {
                "at": event.at.isoformat(timespec="seconds"),
                "user": event.actor.get_username() if event.actor else None,
                "action": event.action,
            }
            for event in events
        ],
    }


def access_report_produced(*, customer, download, by, request=None):
    audit_event_create(
        action=AuditEvent.Action.ACCESS_REPORT_EXPORTED
        if download
        else AuditEvent.Action.ACCESS_REPORT_VIEWED,
        by=by,
        target=customer,
        request=request,
    )


# --- Erasure -------------------------------------------------------------


#: Fields whose values identify a person, also in the audit trail's history.
IDENTIFYING_FIELDS = ("first_name", "last_name", "email", "phone", "street_address")


def _variants(field, value):
    if field == "phone" and value:
        return {value, national_digits(value), format_phone(value)}
    if field in ("first_name", "last_name"):
        # Each part of a double name too, which also finds the Finnish forms
        # whose stem does not change (Mäki-Petäjälle, "lista Poistettavalle").
        return {value, *re.split(r"[\s'\u2019-]+", value)}
    return {value}


def _personal_values(customer, history):
    """Every identifying value the customer has or had: current fields, and the
    old and new values of their own change and merge events."""
    values = {customer.full_name}
    for field in IDENTIFYING_FIELDS:
        values |= _variants(field, plain_value(getattr(customer, field)))
    for event in history:
        for field, pair in (event.detail.get("changes") or {}).items():
            if field in IDENTIFYING_FIELDS:
                for value in pair:
                    values |= _variants(field, value)
    return sorted((v for v in values if v and len(v) >= 3), key=len, reverse=True)


def _erase_changes(detail):
    """On an event about the erased customer, every changed value goes."""
    if "changes" not in detail:
        return detail
    return {**detail, "changes": {field: [ERASED, ERASED] for field in detail["changes"]}}


def _scrub(value, needles):
    """Replace each personal value inside `value` (any depth) by ERASED."""
    if isinstance(value, str):
        lowered = value.casefold()
        for needle in needles:
            start = lowered.find(needle.casefold())
            while start >= 0:
                value = value[:start] + ERASED + value[start + len(needle) :]
                lowered = value.casefold()
                start = lowered.find(needle.casefold())
        return value
    if isinstance(value, list):
        return [_scrub(item, needles) for item in value]
    if isinstance(value, dict):
        return {key: _scrub(item, needles) for key, item in value.items()}
    return value


def _needles(customers_values):
    """The personal values of all the customers erased, longest first."""
    return sorted({v for values in customers_values for v in values}, key=len, reverse=True)


def _scrub_audit_trail(customers_values, customer_ids):
    """Scrub personal values from the audit trail: every event about the
    customers, and every event of a kind that may hold typed values."""
    needles = _needles(customers_values)
    ids = [str(i) for i in customer_ids]
    about = AuditEvent.objects.filter(target_type="registry.customer", target_id__in=ids)
    candidates = AuditEvent.objects.filter(action__in=ACTIONS_WITH_VALUES) | about
    for event in candidates.only("id", "detail", "target_type", "target_id").iterator(
        chunk_size=2000
    ):
        scrubbed = _scrub(event.detail, needles)
        if event.target_type == "registry.customer" and event.target_id in ids:
            scrubbed = _erase_changes(scrubbed)
        if scrubbed != event.detail:
            AuditEvent.objects.scrub(event.pk, scrubbed)


def _scrub_request_notes(customers_values):
    """The notes of every request, not only the person's own: a note on
    someone else's case may name them too ("asked by her son Erkki")."""
    needles = _needles(customers_values)
    for case in DataSubjectRequest.objects.only("pk", *REQUEST_NOTES).iterator():
        scrubbed = {name: _scrub(getattr(case, name), needles) for name in REQUEST_NOTES}
        if any(scrubbed[name] != getattr(case, name) for name in REQUEST_NOTES):
            # A form opened before the erasure must not write the values back.
            DataSubjectRequest.objects.filter(pk=case.pk).update(
                **scrubbed, version=F("version") + 1
            )


def _scrub_login_throttling(customers_values):
    """django-axes keeps the user name typed in a failed login, and the raw
    form data; someone may have typed a customer's email there."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    needles = _needles(customers_values)
    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        text_fields = [
            f.name for f in model._meta.fields if f.name in {"username", "get_data", "post_data"}
        ]
        for row in model.objects.only("pk", *text_fields).iterator():
            scrubbed = {name: _scrub(getattr(row, name) or "", needles) for name in text_fields}
            if any(scrubbed[name] != (getattr(row, name) or "") for name in text_fields):
                model.objects.filter(pk=row.pk).update(**scrubbed)


def _journal(entries):
    """Append erased ids to the journal outside the database, durably."""
    path = settings.ERASURE_JOURNAL_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as journal:
        for entry in entries:
            journal.write(json.dumps(entry) + "\n")
        journal.flush()
        os.fsync(journal.fileno())


def read_journal():
    path = settings.ERASURE_JOURNAL_PATH
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as journal:
        return [json.loads(line) for line in journal if line.strip()]


@transaction.atomic
def customers_erase(*, customers, by, request=None, case=None, reason="request", journal=True):
    """Erase customers: their personal data goes everywhere, the facts stay.

    - consent ledger rows are deleted; enrolments stay without the person
      (course statistics stay true); requests stay without the person;
    - personal values are scrubbed out of audit-event details, the notes of
      requests, login-throttling records, and the names and headers of
      imported files; kept import files and rejected rows are discarded;
    - the customer row is deleted;
    - an audit event with the old id and a random reference records that an
      erasure happened, when and by whom; the id is appended to the erasure
      journal outside the database for restores of older backups.
    Returns the references, one per customer.
    """
    customers = list(Customer.objects.select_for_update().filter(pk__in=[c.pk for c in customers]))
    # Records merged into these customers were part of them: their events go too.
    history = {c.pk: list(AuditEvent.objects.for_customer(c)) for c in customers}
    values = {c.pk: _personal_values(c, history[c.pk]) for c in customers}
    merged_ids = {int(event.target_id) for events in history.values() for event in events}
    _scrub_audit_trail(values.values(), merged_ids)
    _scrub_request_notes(values.values())
    _scrub_login_throttling(values.values())
    # Kept import files and rejected rows may hold the person too; so may the
    # name of any file imported, and its column headers.
    imports_discard_files()
    needles = _needles(values.values())
    imports_scrub(lambda value: _scrub(value, needles))
    Consent.objects.filter(customer__in=customers).erase()
    now = timezone.now()
    entries, references = [], []
    for customer in customers:
        reference = case.reference if case is not None and len(customers) == 1 else new_reference()
        old_id = customer.pk
        customer.delete()  # enrolments and requests are SET_NULL
        audit_event_create(
            action=AuditEvent.Action.CUSTOMER_ERASED,
            by=by,
            request=request,
            detail={"customer_id": old_id, "reference": reference, "reason": reason},
        )
        entries.append(
            {"customer_id": old_id, "reference": reference, "erased_at": now.isoformat()}
        )
        references.append(reference)
    # Written before the commit: should the commit fail, a later restore would
    # erase a customer who asked to be erased anyway, which is the safe side.
    if journal:
        _journal(entries)
    return references


def customer_erase(*, customer, by, request=None, case=None):
    return customers_erase(customers=[customer], by=by, request=request, case=case)[0]


# --- Retention -----------------------------------------------------------


def retention_cutoff():
    return add_months(timezone.now(), -settings.RETENTION_MONTHS)


def retention_candidates():
    """Customers inactive longer than RETENTION_MONTHS: no change, no consent
    event, no enrolment since. Never those with an open request or a coming
    course."""
    open_requests = DataSubjectRequest.objects.open().filter(customer=OuterRef("pk"))
    coming_course = Customer.objects.filter(
        pk=OuterRef("pk"),
        enrollments__course__ends_at__gte=timezone.now(),
        enrollments__status__in=["enrolled", "waitlisted"],
    )
    return (
        Customer.objects.filter(last_activity_at__lt=retention_cutoff())
        .exclude(Exists(open_requests))
        .exclude(Exists(coming_course))
        .order_by("last_activity_at", "id")
    )
