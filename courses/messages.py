"""Service messages to customers (asiakasviestintä): the outbox.

A message is written (`message_create`) in the transaction of the event that
causes it, audited (kind, customer, course; never the text), and sent after
commit by the task `courses.tasks.send_message`. Only those concerned get
one: the services below choose the recipients (never a cancelled enrolment
for course news, the waiting list only its own), an erased customer is no
longer there to choose, and a customer without an email address gets a
message in the state "no address" that staff see with the phone number
("call these"), never a silent skip. A customer whose processing is
restricted (GDPR art. 18) gets none: `message_create` writes nothing for
them, the recipients leave them out, and a message written before the
restriction is not sent (courses.tasks).

These are service messages: they carry no marketing, so they need no
marketing consent. No tracking pixels, no rewritten links: plain text.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.erasure import erasure_handler
from registry.merge import merge_handler

from .mail import mail_files_erase
from .models import Enrollment, Message, MessageSettings
from .tasks import send_message

#: The language of every message: the customers are Finnish.
MESSAGE_LANGUAGE = "fi"


def _company():
    return {
        **settings.REGISTER_CONTROLLER,
        "phone": settings.MESSAGE_PHONE,
        "reply_to": settings.MESSAGE_REPLY_TO,
    }


def message_render(kind, context):
    """(subject, body) of a message from templates/courses/messages/<kind>.txt:
    the first line is the subject, the rest the body. Finnish, plain text."""
    with translation.override(MESSAGE_LANGUAGE):
        text = render_to_string(f"courses/messages/{kind}.txt", {"company": _company(), **context})
    subject, _newline, body = text.strip().partition("\n")
    return subject.strip()[:200], body.strip() + "\n"


def _enqueue(message_id):
    send_message.enqueue(message_id)


def message_create(*, customer, kind, course=None, session=None, by=None, request=None, **context):
    """Write one message to one customer and send it after commit. Returns
    the Message, or None for an erased customer, one whose processing is
    restricted or a kind switched off. Call inside the event's transaction."""
    if customer is None or customer.restricted_since is not None:
        return None
    if kind in Message.AUTOMATIC and not MessageSettings.current().allows(kind):
        return None
    subject, body = message_render(
        kind, {"customer": customer, "course": course, "session": session, **context}
    )
    message = Message.objects.create(
        customer=customer,
        kind=kind,
        course=course,
        session=session,
        to=customer.email or "",
        subject=subject,
        body=body,
        state=Message.State.QUEUED if customer.email else Message.State.NO_ADDRESS,
        caused_by=by if by is not None and by.is_authenticated else None,
    )
    audit_event_create(
        action=AuditEvent.Action.MESSAGE_QUEUED,
        by=by,
        target=customer,
        request=request,
        detail={
            "message_id": message.pk,
            "kind": kind,
            "course_id": course.pk if course else None,
            "session_id": session.pk if session else None,
            "state": message.state,
        },
    )
    if message.state == Message.State.QUEUED:
        transaction.on_commit(lambda: _enqueue(message.pk))
    return message


@transaction.atomic
def message_resend(*, message, by, request=None):
    """Send a failed message again (the outbox's "send again"): the attempts
    start over. Audited. Not to a customer whose processing is restricted."""
    message = (
        Message.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=message.pk)
    )
    if (
        message.state != Message.State.FAILED
        or not message.body
        or message.customer.restricted_since is not None
    ):
        return message
    message.state = Message.State.QUEUED
    message.attempts = 0
    message.save(update_fields=["state", "attempts"])
    audit_event_create(
        action=AuditEvent.Action.MESSAGE_RESENT,
        by=by,
        target=message.customer,
        request=request,
        detail={"message_id": message.pk, "kind": message.kind},
    )
    transaction.on_commit(lambda: _enqueue(message.pk))
    return message


# --- Who gets what ---------------------------------------------------------


def _sessions(course):
    return list(course.sessions.held().order_by("starts_at", "id"))


def notify_enrolled(enrollment, *, by=None, request=None, position=None):
    """Enrolment confirmed (with the session dates), or placed on the waiting
    list (with the position)."""
    course = enrollment.course
    if enrollment.status == Enrollment.Status.WAITLISTED:
        return message_create(
            customer=enrollment.customer,
            kind=Message.Kind.WAITLISTED,
            course=course,
            by=by,
            request=request,
            position=position,
        )
    return message_create(
        customer=enrollment.customer,
        kind=Message.Kind.ENROLLED,
        course=course,
        by=by,
        request=request,
        sessions=_sessions(course),
    )


def notify_promoted(enrollments, *, by=None, request=None):
    """A place from the waiting list ("call us if you cannot come")."""
    for enrollment in enrollments:
        message_create(
            customer=enrollment.customer,
            kind=Message.Kind.PROMOTED,
            course=enrollment.course,
            by=by,
            request=request,
            sessions=_sessions(enrollment.course),
        )


def notify_enrollment_cancelled(enrollment, *, by=None, request=None):
    return message_create(
        customer=enrollment.customer,
        kind=Message.Kind.ENROLLMENT_CANCELLED,
        course=enrollment.course,
        by=by,
        request=request,
    )


def course_recipients(course, audience="participants"):
    """Those a course's news concerns: everyone with a place (by name,
    PARTICIPANT_ORDER), or the waiting list (in queue order). Never
    a cancelled enrolment, never an erased customer, never one whose
    processing is restricted."""
    enrollments = (
        course.enrollments.waitlist()
        if audience == "waitlist"
        else course.enrollments.taking_a_place().by_name()
    )
    enrollments = enrollments.filter(customer__isnull=False, customer__restricted_since=None)
    return [e.customer for e in enrollments.select_related("customer")]


def notify_course_cancelled(course, *, by=None, request=None):
    """Everyone with a place and everyone waiting: the course will not be held."""
    for audience in ("participants", "waitlist"):
        for customer in course_recipients(course, audience):
            message_create(
                customer=customer,
                kind=Message.Kind.COURSE_CANCELLED,
                course=course,
                by=by,
                request=request,
            )


def notify_session_changed(session, *, kind, by=None, request=None, old=None):
    """A session cancelled or moved: those with a place (the waiting list has
    no place on it). `old` is (start, end, place) before a move."""
    course = session.course
    if course.is_cancelled:
        return  # its cancellation was the news
    for customer in course_recipients(course):
        message_create(
            customer=customer,
            kind=kind,
            course=course,
            session=session,
            by=by,
            request=request,
            old=old,
        )


def reminders_due(now=None):
    """(enrolment, course) pairs that get the reminder: a place on a course
    not cancelled whose first session starts within REMINDER_DAYS days and
    has not started, and no reminder yet (so a second run sends none)."""
    now = now or timezone.now()
    until = now + timedelta(days=settings.REMINDER_DAYS)
    already = Message.objects.filter(kind=Message.Kind.REMINDER).values("customer", "course")
    reminded = {(row["customer"], row["course"]) for row in already}
    enrollments = (
        Enrollment.objects.taking_a_place()
        .filter(
            course__is_cancelled=False,
            course__starts_at__gt=now,
            course__starts_at__lte=until,
            customer__isnull=False,
            customer__restricted_since__isnull=True,
        )
        .select_related("course", "customer")
        .order_by("course__starts_at", "id")
    )
    return [e for e in enrollments if (e.customer_id, e.course_id) not in reminded]


def send_reminders(now=None):
    """Write the reminders due; returns how many were written. Idempotent."""
    written = 0
    if not MessageSettings.current().reminder:
        return 0
    for enrollment in reminders_due(now):
        with transaction.atomic():
            message = message_create(
                customer=enrollment.customer,
                kind=Message.Kind.REMINDER,
                course=enrollment.course,
                sessions=_sessions(enrollment.course),
            )
        written += message is not None
    return written


def staff_message_create(*, course, audience, subject, text, by, request=None):
    """A message from staff to a course's participants or its waiting list."""
    recipients = course_recipients(course, audience)
    with transaction.atomic():
        return [
            message_create(
                customer=customer,
                kind=Message.Kind.STAFF,
                course=course,
                by=by,
                request=request,
                staff_subject=subject,
                text=text,
            )
            for customer in recipients
        ]


def purge_message_bodies(now=None):
    """Delete the texts of messages older than MESSAGE_BODY_DAYS; who, what
    kind, when and the state stay. Returns how many were emptied."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MESSAGE_BODY_DAYS)
    return Message.objects.filter(created_at__lt=cutoff, body_deleted_at=None).update(
        body="", body_deleted_at=now
    )


@erasure_handler("courses.message")
def _erase_messages(erasure):
    """The customer's messages hold their name and dates: deleted with them.
    A message to someone else may name them too (a note from staff, the
    reason a session was cancelled): the subject, text and error of every
    message kept are scrubbed. Then the mail files written without a mail
    server that name them are deleted (courses.mail): a send in progress
    holds its message's row, so its file is written before the rows above
    can change, and is found."""
    Message.objects.filter(customer__in=erasure.customers).delete()
    erasure.scrub_rows(Message.objects.all(), ("subject", "body", "error"))
    erasure.rewrote("mail_files", mail_files_erase(erasure.scrub))


@merge_handler("courses.message")
def _merge_messages(*, keep, remove):
    Message.objects.filter(customer=remove).update(customer=keep)
