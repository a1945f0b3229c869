"""Customers a message could not reach by email, shown to staff to call."""

from django.contrib import messages
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from registry.audit.services import customers_listed
from registry.phones import format_phone

from .models import Message


def tell_emailed(request, since):
    """After a session is moved or cancelled: how many participants its
    messages reach by email (the others are listed to call)."""
    emailed = (
        Message.objects.filter(caused_by=request.user, created_at__gte=since)
        .exclude(state=Message.State.NO_ADDRESS)
        .count()
    )
    if emailed:
        messages.info(
            request,
            ngettext(
                "An email about it goes to %(count)s participant.",
                "An email about it goes to %(count)s participants.",
                emailed,
            )
            % {"count": emailed},
        )


def warn_to_call(request, since):
    """After an event: the customers its messages could not reach by email,
    with their phone numbers ("call these 3")."""
    to_call = list(
        Message.objects.to_call()
        .filter(caused_by=request.user, created_at__gte=since)
        .select_related("customer")
        .order_by("id")
    )
    if not to_call:
        return
    # Names and phone numbers shown (all of a cancelled course's, not only
    # those of a page already read): a list read.
    shown = {m.customer_id for m in to_call}
    customers_listed(
        ids=shown,
        via="to_call",
        by=request.user,
        request=request,
    )
    no_phone = _("no phone")  # outside the f-string, where makemessages finds it
    people = ", ".join(
        f"{m.customer.full_name} ({format_phone(m.customer.phone) or no_phone})" for m in to_call
    )
    messages.warning(
        request,
        ngettext(
            "No email address: call this customer: %(people)s.",
            "No email address: call these %(count)s: %(people)s.",
            len(to_call),
        )
        % {"count": len(to_call), "people": people},
    )
