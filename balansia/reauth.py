"""Re-authentication before sensitive actions.

Erasure, bulk exports and changes of access rights ask for the password
again when the last authentication is older than REAUTH_MINUTES.
"""

import functools
import time

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

SESSION_KEY = "balansia.authenticated_at"


def mark_authenticated(request):
    request.session[SESSION_KEY] = int(time.time())


def is_recent(request):
    authenticated_at = request.session.get(SESSION_KEY, 0)
    return time.time() - authenticated_at < settings.REAUTH_MINUTES * 60


def recent_authentication_required(view):
    """Send the user to confirm their password first if it was long ago.

    A GET is sent there and back; a POST made with a stale login is refused
    the same way (nothing is done), and the user repeats it after confirming.
    """

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_recent(request):
            back = request.get_full_path() if request.method == "GET" else request.path
            return redirect(f"{reverse('reauthenticate')}?{urlencode({'next': back})}")
        return view(request, *args, **kwargs)

    return wrapper
