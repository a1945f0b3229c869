"""Reads of the data subject's rights: the access report and retention."""

import datetime

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from registry.audit.models import AuditEvent
from registry.audit.selectors import export_scope
from registry.changes import plain_value
from registry.models import Customer, MarketingChannel
from registry.roles import role_code
from registry.services import CUSTOMER_FIELDS
from registry.suppression import suppressed_since

from .models import DataSubjectRequest, add_months

#: Where the access report shows what each erasure handler (registry.erasure)
#: removes or scrubs: the report covers every table that holds the person,
#: and a test holds every registered handler to this table or the next, so
#: that a new kind of personal data is not left out of the report.
REPORT_SECTIONS = {
    "registry.consent": ("consents",),
    "registry.marketingexportrow": ("marketing_exports",),
    "registry.datasubjectrequest": ("requests",),
    # Who handled the data, and the values the person's record had before.
    "registry.auditevent": ("processing", "changes"),
    # The file the customer came from (customer.imported_from).
    "registry.customerimport": ("customer",),
    "courses.enrollment": ("enrollments",),
    "courses.message": ("messages",),
}
#: What an erasure handler scrubs that the report does not show, and why.
NOT_IN_REPORT = {
    # A copy of the whole register kept for minutes (EXPORT_KEEP_MINUTES) for
    # the register manager to download: it holds the customer's row as the
    # report shows it, and is about nobody in particular.
    "registry.registerexport": "a short-lived copy of rows the report shows",
    # A newsletter service's file is kept only until it is applied or
    # cancelled; what it did to the customer is in the consent ledger, and a
    # file not yet applied is tied to no customer.
    "registry.unsubscribeimport": "its effect is in the consents",
    # User names typed at the login: the register's users', tied to no
    # customer (a customer's address typed there by mistake is scrubbed by an
    # erasure, but cannot be told from a user name to be reported).
    "axes.accessattempt": "login records of the register's users",
    # The reason typed when a session was cancelled is about the course; a
    # name typed in it is scrubbed, but the reason is tied to no customer.
    "courses.session": "a cancelled session's reason, about the course",
    # A course's title, description and place: about the course, for all
    # its participants; a name typed in them is scrubbed.
    "courses.course": "a course's title, description and place",
}


def _changed_values(events, references):
    """The values the customer's record had before each change (GDPR art.
    15: the audit trail keeps them), one row per changed field: the edits and
    the merges of the record and of records merged into it. Read from the
    events the report already holds; a detail of an unexpected shape is shown
    as far as it goes, never fails the report."""
    rows = []
    for event in events:
        changes = event.detail.get("changes") if isinstance(event.detail, dict) else None
        if not isinstance(changes, dict):
            continue
        case_id = event.detail.get("case_id")
        for field_name, pair in changes.items():
            if not isinstance(pair, (list, tuple)):
                pair = ["", pair]
            old, new = [*pair, "", ""][:2]
            rows.append(
                {
                    "at": event.at.isoformat(timespec="seconds"),
                    "action": event.action,
                    "field": str(field_name),
                    "old": "" if old is None else str(old),
                    "new": "" if new is None else str(new),
                    # The rectification request it answered, if it was one.
                    "request": references.get(case_id, "") if type(case_id) is int else "",
                }
            )
    return rows


def access_report(customer):
    """Everything the register holds about one customer, as plain data.

    The structure is documented in the README (Access report). It is the same
    for the readable page and the JSON download. The number of queries does
    not grow with the customer's rows.
    """
    # Through reverse relations: registry does not import courses.
    enrollments = (
        customer.enrollments.select_related("course")
        .prefetch_related("attendances__session")
        .order_by("course__starts_at")
    )
    # Who handled the data is told by role, not by name: the staff act under
    # the controller's authority and are not recipients, and a log of what
    # one employee did is that employee's personal data too (CJEU C-579/21,
    # Pankki S, 2023). The register manager finds the person in the audit
    # trail if the customer's rights need it (README, Access report).
    events = list(
        AuditEvent.objects.for_customer(customer)
        .select_related("actor")
        .prefetch_related("actor__groups")
        .order_by("at", "id")
    )
    # The person's own requests, notes included: the staff's notes on the
    # request are data about the person. The case form tells the writer that
    # the customer reads them (README, Access and portability).
    cases = list(customer.data_subject_requests.order_by("received_on", "id"))
    suppressed = suppressed_since(email=customer.email, phone=customer.phone)
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
            # Restriction of processing (art. 18), while it lasts.
            "restricted_since": customer.restricted_since.isoformat(timespec="seconds")
            if customer.restricted_since
            else None,
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
                "complaint": consent.complaint,
                "wording_version": consent.text.version if consent.text else None,
                "wording": consent.text.wording if consent.text else "",
                # The role then; before 0014 only today's role is known.
                "recorded_by": consent.recorded_by_role or role_code(consent.recorded_by),
            }
            for consent in customer.consents.select_related("text", "recorded_by")
            .prefetch_related("recorded_by__groups")
            .order_by("occurred_at", "id")
        ],
        "enrollments": [
            {
                "course": enrollment.course.title,
                "starts_at": enrollment.course.starts_at.isoformat(timespec="minutes"),
                "status": enrollment.status,
                "source": enrollment.source,
                "enrolled_at": enrollment.enrolled_at.isoformat(timespec="seconds"),
                "status_changed_at": enrollment.status_changed_at.isoformat(timespec="seconds"),
                # Per session: came, absent (didn't come) or excused (reported absence).
                "attendance": [
                    {
                        "session": mark.session.starts_at.isoformat(timespec="minutes"),
                        "status": mark.status,
                    }
                    for mark in sorted(
                        enrollment.attendances.all(), key=lambda mark: mark.session.starts_at
                    )
                ],
            }
            for enrollment in enrollments
        ],
        # The recipients answer (art. 15(1)(c)): the marketing lists that
        # named the customer, and the ledger event that allowed it.
        "marketing_exports": [
            {
                "exported_at": row.export.exported_at.isoformat(timespec="seconds"),
                "channel": row.export.channel,
                "purpose": row.export.purpose,
                "allowed_by": (
                    {
                        "event": row.consent.event,
                        "occurred_at": row.consent.occurred_at.isoformat(timespec="seconds"),
                    }
                    if row.consent
                    else None
                ),
            }
            for row in customer.marketing_export_rows.select_related("export", "consent").order_by(
                "export__exported_at", "export_id"
            )
        ],
        # Service messages written to the customer (courses.Message), with
        # their texts while they are kept (MESSAGE_BODY_DAYS; then
        # body_deleted_at says when the text went, the rest stays).
        "messages": [
            {
                "kind": message.kind,
                "channel": message.channel,
                "to": message.to,
                "state": message.state,
                "created_at": message.created_at.isoformat(timespec="seconds"),
                "sent_at": message.sent_at.isoformat(timespec="seconds")
                if message.sent_at
                else None,
                "course": message.course.title if message.course else "",
                "session": message.session.starts_at.isoformat(timespec="minutes")
                if message.session
                else None,
                "subject": message.subject,
                "body": message.body,
                "body_deleted_at": message.body_deleted_at.isoformat(timespec="seconds")
                if message.body_deleted_at
                else None,
            }
            for message in customer.messages.select_related("course", "session").order_by(
                "created_at", "id"
            )
        ],
        "requests": [
            {
                "reference": case.reference,
                "kind": case.kind,
                "received_on": case.received_on.isoformat(),
                "identity_verification": case.identity_verification,
                "deadline": case.deadline.isoformat(),
                "extension_reason": case.extension_reason,
                "status": case.status,
                "completed_on": case.completed_on.isoformat() if case.completed_on else None,
                "outcome": case.outcome,
            }
            for case in cases
        ],
        "changes": _changed_values(events, {case.pk: case.reference for case in cases}),
        # The customer's email or phone on the suppression list (kept when a
        # record with it was erased while objecting to marketing): since when,
        # or None. Its keyed hash is data about whoever holds the address now.
        "suppressed_since": suppressed.isoformat(timespec="seconds") if suppressed else None,
        "processing": [
            {
                "at": event.at.isoformat(timespec="seconds"),
                "role": event.actor_role or (role_code(event.actor) if event.actor else None),
                "action": event.action,
                # An export says which file held the customer (the whole
                # register, a participant list, a marketing list).
                **({"exported": scope} if (scope := export_scope(event)) else {}),
            }
            for event in events
        ],
    }


def retention_cutoff():
    return add_months(timezone.now(), -settings.RETENTION_MONTHS)


def logs_cutoff(now=None):
    """The audit trail's values and the login records from before this are due
    to go (AUDIT_KEEP_MONTHS; manage.py prune_logs)."""
    return add_months(now or timezone.now(), -settings.AUDIT_KEEP_MONTHS)


def retention_candidates(cutoff=None):
    """Customers inactive longer than RETENTION_MONTHS: no change, no consent
    event, no enrolment since. Never those with an open request or a coming
    course, nor those whose processing is restricted (GDPR art. 18: the data
    is kept, often for a legal claim, until the restriction is lifted).
    `cutoff` (default: RETENTION_MONTHS ago) looks ahead: the reports count
    who will be listed in the coming months."""
    open_requests = DataSubjectRequest.objects.open().filter(customer=OuterRef("pk"))
    # The enrolments themselves (by the index on their customer), not the
    # customers joined to them again: registry does not import courses.
    enrollment = Customer._meta.get_field("enrollments").related_model
    coming_course = enrollment.objects.filter(
        customer=OuterRef("pk"),
        course__ends_at__gte=timezone.now(),
        status__in=["enrolled", "waitlisted"],
    )
    return (
        Customer.objects.filter(
            last_activity_at__lt=cutoff or retention_cutoff(), restricted_since__isnull=True
        )
        .exclude(Exists(open_requests))
        .exclude(Exists(coming_course))
        .order_by("last_activity_at", "id")
    )


def case_trail(case):
    """What was done for a case, oldest first: its own events, changes made
    for it (rectification) and its linking to a customer, and the customer's
    access reports viewed or downloaded since it was received."""
    # Not the reads of a case without a customer (CASE_VIEWED): as a
    # customer's page views are not, they are no step of the answer.
    events = AuditEvent.objects.for_target(case).exclude(
        action=AuditEvent.Action.CASE_VIEWED
    ) | AuditEvent.objects.filter(detail__case_id=case.pk)
    if case.customer_id is not None:
        received = timezone.make_aware(
            datetime.datetime.combine(case.received_on, datetime.time())
        )
        events |= AuditEvent.objects.for_target(case.customer).filter(
            action__in=[
                AuditEvent.Action.ACCESS_REPORT_VIEWED,
                AuditEvent.Action.ACCESS_REPORT_EXPORTED,
            ],
            at__gte=received,
        )
    return events.select_related("actor").order_by("at", "id")


def export_in_words(scope):
    """export_scope() as a person reads it, in the customer's trail and
    access report: which file held them."""
    what = scope.get("what")
    if what == "whole_register":
        return _("Customer register exported (whole register)")
    if what == "participant_list":
        if scope.get("course"):
            return _("Participant list of %(course)s exported") % {"course": scope["course"]}
        # An export from before the title was kept in the event.
        return _("Participant list exported")
    channel = scope.get("channel")
    if channel in MarketingChannel.values:
        return _("Marketing list exported (%(channel)s)") % {
            "channel": MarketingChannel(channel).label
        }
    return _("Marketing list exported")


def event_in_words(event):
    """An event as the customer's trail shows it: an export says which file,
    any other event its action."""
    scope = export_scope(event)
    return export_in_words(scope) if scope else event.get_action_display()
