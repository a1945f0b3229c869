"""The outbox pages: a course's message from staff, all failed messages and
those to call, one message, "send again". Service messages only."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from registry.audit.services import customer_viewed, customers_listed
from registry.once import Once

from .call_list import warn_to_call
from .message_forms import CourseMessageForm
from .messages import course_recipients, message_render, message_resend, staff_message_create
from .models import Message
from .participants import participant_list_viewed
from .views import visible_course

#: How long the outbox lists a customer without email to call.
TO_CALL_DAYS = 14


@permission_required("courses.send_course_message", raise_exception=True)
@transaction.atomic
def course_message_view(request, pk):
    """Write to a course's participants or its waiting list: the form, then a
    preview of the recipients and the text, then send."""
    course = visible_course(request, pk)
    form = CourseMessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        recipients = course_recipients(course, data["audience"])
        if request.POST.get("confirm") == "1" and recipients:
            if form.has_token:
                return _send(request, course, form)
            # Made by hand, or a page from yesterday: nothing is sent; the
            # preview again, with a token.
            messages.warning(request, _("Check the message and send again."))
        if not form.has_token:
            form = form.with_new_token()
        participant_list_viewed(
            course=course,
            customer_ids=[customer.pk for customer in recipients],
            by=request.user,
            request=request,
            view="message_preview",
            audience=data["audience"],
        )
        example = recipients[0] if recipients else None
        subject, body = message_render(
            Message.Kind.STAFF,
            {
                "customer": example or {"first_name": _("(first name)")},
                "course": course,
                "staff_subject": data["subject"],
                "text": data["text"],
            },
        )
        return render(
            request,
            "courses/course_message.html",
            {
                "course": course,
                "form": form,
                "preview": True,
                "recipients": recipients,
                "without_email": [c for c in recipients if not c.email],
                "subject": subject,
                "body": body,
            },
        )
    return render(request, "courses/course_message.html", {"course": course, "form": form})


def _send(request, course, form):
    """Write the messages of a confirmed preview, once per page: the page sent
    twice writes nothing more and says so."""
    once = Once(request, form)
    # Taken in the messages' transaction (the view's; registry.once).
    already = once.answer_if_sent_again(
        request,
        _("The message was already sent: the form was sent twice. Nothing more was sent."),
        otherwise=course,
    )
    if already:
        return already
    since = timezone.now()
    data = form.cleaned_data
    written = staff_message_create(
        course=course,
        audience=data["audience"],
        subject=data["subject"],
        text=data["text"],
        by=request.user,
        request=request,
    )
    once.saved(len(written))
    messages.success(
        request,
        ngettext(
            "%(count)s message written: it is sent in a moment.",
            "%(count)s messages written: they are sent in a moment.",
            len(written),
        )
        % {"count": len(written)},
    )
    warn_to_call(request, since)
    return redirect(course)


@permission_required("courses.view_message", raise_exception=True)
@transaction.atomic
def outbox_view(request):
    """Lähtevät viestit: failed messages with "send again", customers to call,
    and the latest messages. Reading it is audited as a list of customers."""
    visible = Message.objects.visible_to(request.user).select_related("customer", "course")
    failed = list(visible.failed()[:200])
    to_call = list(
        visible.to_call().filter(created_at__gte=timezone.now() - timedelta(days=TO_CALL_DAYS))[
            :200
        ]
    )
    latest = list(visible[:50])
    shown = {m.customer_id for m in [*failed, *to_call, *latest]}
    customers_listed(
        ids=shown,
        via="outbox",
        by=request.user,
        request=request,
    )
    return render(
        request,
        "courses/outbox.html",
        {
            "failed": failed,
            "to_call": to_call,
            "to_call_days": TO_CALL_DAYS,
            "latest": latest,
            "to_files": settings.EMAIL_BACKEND == "courses.mail.EmlFileBackend",
            "mail_dir": settings.EMAIL_FILE_PATH,
        },
    )


@permission_required("courses.view_message", raise_exception=True)
@transaction.atomic
def message_detail_view(request, pk):
    """One message as the customer got it (until its text is deleted)."""
    message = get_object_or_404(
        Message.objects.visible_to(request.user).select_related(
            "customer", "course", "session", "caused_by"
        ),
        pk=pk,
    )
    customer_viewed(customer=message.customer, by=request.user, request=request, via="message")
    return render(
        request,
        "courses/message_detail.html",
        {
            "message": message,
            "from_email": settings.DEFAULT_FROM_EMAIL,
            "reply_to": settings.MESSAGE_REPLY_TO,
            "body_days": settings.MESSAGE_BODY_DAYS,
        },
    )


@require_POST
@permission_required("courses.change_message", raise_exception=True)
def message_resend_view(request, pk):
    """Send a failed message again: whoever may see it and change messages."""
    message = get_object_or_404(Message.objects.visible_to(request.user), pk=pk)
    if message.state != Message.State.FAILED or not message.body:
        messages.error(request, _("Only a failed message whose text is kept can be sent again."))
    elif message.customer.restricted_since is not None:
        messages.error(
            request,
            _("Processing of the customer's data is restricted: the message cannot be sent."),
        )
    elif reason := message.outdated_reason():
        messages.error(request, reason)
    else:
        message_resend(message=message, by=request.user, request=request)
        messages.success(request, _("The message is sent again in a moment."))
    return redirect("courses:outbox")
