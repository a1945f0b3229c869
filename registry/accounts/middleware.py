import time

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from .two_factor import has_device, requires_two_factor

PASSWORD_CHANGE_REQUIRED = "balansia.password_change_required"  # noqa: S105 (a session key)


class PasswordChangeRequiredMiddleware:
    """Send a user whose password was set by someone else to change it first.

    The first register manager gets a printed one-time password, and accounts
    made in admin get a password the register manager knows; both must be
    replaced by one only the user knows before the register opens. The flag is
    copied into the session at login, so this costs no query per request.
    """

    # The second factor comes first (TwoFactorMiddleware, before this one).
    allowed_url_names = ("password_change", "two-factor-verify", "logout", "set_language")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.user.is_authenticated
            and request.session.get(PASSWORD_CHANGE_REQUIRED)
            and request.path not in paths_of(self.allowed_url_names)
        ):
            return redirect("password_change")
        return self.get_response(request)


class TwoFactorMiddleware:
    """Require the second factor.

    A user with a confirmed device can, after the password, do nothing but give
    a code (or a backup code), switch the language or log out: no password
    change, no new device, no page of the register. A user who must use
    two-factor (register managers, staff users of admin, or everybody with
    OTP_REQUIRED_FOR_ALL) but has no device is sent to set one up first; only
    the forced change of a password set by someone else may come before it.
    Admin is therefore reached only with the second factor.
    """

    verify_url_names = ("two-factor-verify", "logout", "set_language")
    setup_url_names = (
        "two-factor-setup",
        # Setting up asks for the password again if the login is not fresh.
        "reauthenticate",
        "logout",
        "set_language",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not user.is_verified():
            if has_device(user):
                if request.path not in paths_of(self.verify_url_names):
                    return redirect_with_next("two-factor-verify", request)
            elif (
                requires_two_factor(user)
                # PasswordChangeRequiredMiddleware, next, sends them there first.
                and not request.session.get(PASSWORD_CHANGE_REQUIRED)
                and request.path not in paths_of(self.setup_url_names)
            ):
                return redirect_with_next("two-factor-setup", request)
        return self.get_response(request)


def paths_of(url_names):
    return {reverse(name) for name in url_names}


def redirect_with_next(name, request):
    target = request.get_full_path()
    if request.method == "GET" and url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return redirect(f"{reverse(name)}?{urlencode({'next': target})}")
    return redirect(name)


def menu_open(request):
    """Whether the user may use the register now: logged in, past the second
    factor if they must give one, and not held at a forced password change."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    if request.session.get(PASSWORD_CHANGE_REQUIRED):
        return False
    return user.is_verified() or not (has_device(user) or requires_two_factor(user))


class SessionTouchMiddleware:
    """Keep a session alive while it is used, saving it at most once a minute.

    A session ends SESSION_COOKIE_AGE after its last save. Saving it on every
    request (SESSION_SAVE_EVERY_REQUEST) cost every page an UPDATE and its
    transaction; instead, a request saves it when the last save is more than
    SESSION_TOUCH_SECONDS old. The idle timeout is therefore between
    SESSION_COOKIE_AGE minus SESSION_TOUCH_SECONDS and SESSION_COOKIE_AGE.
    """

    KEY = "balansia.session_saved_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or session.is_empty():
            return response
        if int(time.time()) - session.get(self.KEY, 0) >= settings.SESSION_TOUCH_SECONDS:
            session_touched(session)  # modified: SessionMiddleware saves it
        return response


def session_touched(session):
    """Note the session as saved now (it is, or is about to be)."""
    session[SessionTouchMiddleware.KEY] = int(time.time())
