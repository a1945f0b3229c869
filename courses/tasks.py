"""Sending the outbox (courses.messages) in the task worker.

`send_message` sends one message. On an SMTP or network error it counts the
attempt and queues itself again after a wait that doubles each time
(MESSAGE_RETRY_SECONDS, 2x, 4x ...); after MESSAGE_SEND_ATTEMPTS the message
is failed and shown on the outbox page with "send again".
"""

import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_tasks import task

from .models import Message

#: What a failed delivery raises: SMTP refusals, and network errors (OSError).
SEND_ERRORS = (smtplib.SMTPException, OSError)


def email_for(message):
    """The email of a message: Reply-To the company and, on automatic ones,
    Auto-Submitted (RFC 3834: autoresponders do not answer them). Plain
    text only: nothing to track who opened it or what was clicked."""
    headers = {"Auto-Submitted": "auto-generated"} if message.is_automatic else {}
    return EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        reply_to=[settings.MESSAGE_REPLY_TO] if settings.MESSAGE_REPLY_TO else None,
        headers=headers,
    )


def retry_delay(attempts):
    """The wait after `attempts` failed tries: 1, 2, 4, 8 ... units."""
    return timedelta(seconds=settings.MESSAGE_RETRY_SECONDS * 2 ** max(attempts - 1, 0))


def message_deliver(message_id):
    """Send one queued message. On an error count the attempt and return the
    wait before the next, or mark it failed after MESSAGE_SEND_ATTEMPTS.
    Returns None when there is nothing more to do. Why a message was not
    sent is written for staff in the register's language, whatever a
    request before it in this process left active (a test with English
    pages before it wrote the reason in English)."""
    with translation.override(settings.LANGUAGE_CODE):
        return _message_deliver(message_id)


def _message_deliver(message_id):
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("customer", "course")
            .filter(pk=message_id)
            .first()
        )
        if message is None or message.state != Message.State.QUEUED:
            return None  # erased meanwhile, or sent already
        if message.customer.restricted_since is not None:
            # Written before the customer's processing was restricted (GDPR
            # art. 18), or sent again since: not sent, and the outbox says why.
            message.state = Message.State.FAILED
            message.error = _("Not sent: processing of the customer's data is restricted.")
            message.save(update_fields=["state", "error"])
            return None
        if reason := message.outdated_reason():
            message.state = Message.State.FAILED
            message.error = str(reason)
            message.save(update_fields=["state", "error"])
            return None
        # The address the customer has now: one corrected or removed since the
        # message was written (or since it failed) is not written to again.
        message.to = message.customer.email
        if not message.to:
            message.state = Message.State.NO_ADDRESS
            message.save(update_fields=["state", "to"])
            return None
        message.attempts += 1
        try:
            with get_connection(fail_silently=False) as connection:
                connection.send_messages([email_for(message)])
        except SEND_ERRORS as error:
            message.error = f"{type(error).__name__}: {error}"[:1000]
            if message.attempts >= settings.MESSAGE_SEND_ATTEMPTS:
                message.state = Message.State.FAILED
                message.save(update_fields=["attempts", "error", "state", "to"])
                return None
            message.save(update_fields=["attempts", "error", "to"])
            return retry_delay(message.attempts)
        message.state = Message.State.SENT
        message.sent_at = timezone.now()
        message.error = ""
        message.save(update_fields=["attempts", "error", "state", "sent_at", "to"])
        return None


@task()
def send_message(message_id):
    wait = message_deliver(message_id)
    if wait is None:
        return
    if send_message.get_backend().supports_defer:
        send_message.using(run_after=timezone.now() + wait).enqueue(message_id)
    else:  # a backend that cannot wait (the tests' immediate one): at once
        send_message.enqueue(message_id)
