"""Security wiring shared by django-axes and the audit trail."""

from django.conf import settings
from django.shortcuts import render
from django.utils import timezone


def client_ip(request):
    """The client's address: from the header the TLS proxy sets, else REMOTE_ADDR.

    Only trust a header that the proxy overwrites on every request; otherwise a
    client could choose its own address and dodge the login throttling.
    """
    header = settings.CLIENT_IP_HEADER
    if header:
        # X-Forwarded-For may hold a chain that the client started; the proxy
        # appends the address it saw last, so with one proxy that entry is true.
        value = request.META.get(header, "")
        candidates = [part.strip() for part in value.split(",") if part.strip()]
        if candidates:
            return candidates[-1]
    return request.META.get("REMOTE_ADDR") or None


def lockout_response(request, original_response=None, credentials=None):
    """The page a locked-out login gets: HTTP 429 with when to try again."""
    cool_off = settings.AXES_COOLOFF_TIME
    retry_at = timezone.localtime() + cool_off
    response = render(
        request,
        "registration/locked_out.html",
        {"retry_at": retry_at, "cool_off_minutes": int(cool_off.total_seconds() // 60)},
        status=429,
    )
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
