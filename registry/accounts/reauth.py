"""Re-authentication before sensitive actions.

Erasure, bulk exports, changes of access rights and of two-factor devices ask
for the password again when the last authentication is older than
REAUTH_MINUTES. Every such password is checked as a login is: through
authenticate(), so that django-axes counts a wrong one against the same limit
as the login page, the account's lock counts it, and it is audited.
"""

import functools
import time

from django.conf import settings
from django.contrib.auth import authenticate, logout
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from .lock import account_is_locked, lockout_response

SESSION_KEY = "balansia.authenticated_at"


def mark_authenticated(request):
    request.session[SESSION_KEY] = int(time.time())


def is_recent(request):
    authenticated_at = request.session.get(SESSION_KEY, 0)
    return time.time() - authenticated_at < settings.REAUTH_MINUTES * 60


def recent_authentication_required(view):
    """Send the user to confirm their password first if it was long ago.

    A GET is sent there and back; a POST made with a stale login is refused
    the same way (nothing is done): the user comes back to a GET of the same
    address, query string included (the form's page), and repeats it after
    confirming.
    """

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_recent(request):
            back = request.get_full_path()
            return redirect(f"{reverse('reauthenticate')}?{urlencode({'next': back})}")
        return view(request, *args, **kwargs)

    return wrapper


def password_confirm(request, password):
    """Check the password of the logged-in user as the login page would; for a
    form's clean_<field>. Raises ValidationError if it is not right.

    A user whose account is locked is told so (it is their own session), and
    the password is not checked: it could not open the account anyway.
    """
    user = request.user
    if account_is_locked(user):
        raise ValidationError(
            _(
                "Password logins of your account are locked after many failed attempts. "
                "Ask the register manager to lift the lock."
            ),
            code="locked",
        )
    checked = authenticate(request, username=user.get_username(), password=password)
    if checked is None or checked.pk != user.pk:
        raise ValidationError(_("The password is not correct."), code="password_incorrect")


def lockout_after_wrong_password(request):
    """After a wrong password: if it reached django-axes' limit, end the session
    and answer as a locked-out login does; else None."""
    if getattr(request, "axes_locked_out", False):
        logout(request)
        return lockout_response(request)
    return None
