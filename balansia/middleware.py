from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_cache_control


class NoStoreForUsersMiddleware:
    """Forbid caching of every response to a logged-in user.

    Pages of a logged-in user may show personal data; neither the browser nor a
    proxy may keep a copy of them (the notice: the register is protected from
    outsiders, and the next person at a shared computer is an outsider).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.user.is_authenticated:
            patch_cache_control(response, no_store=True, no_cache=True, private=True)
        return response


PASSWORD_CHANGE_REQUIRED = "balansia.password_change_required"  # noqa: S105 (a session key)


class PasswordChangeRequiredMiddleware:
    """Send a user whose password was set by someone else to change it first.

    The first register manager gets a printed one-time password, and accounts
    made in admin get a password the register manager knows; both must be
    replaced by one only the user knows before the register opens. The flag is
    copied into the session at login, so this costs no query per request.
    """

    allowed_url_names = ("password_change", "logout", "set_language")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated and request.session.get(PASSWORD_CHANGE_REQUIRED):
            allowed = {reverse(name) for name in self.allowed_url_names}
            if request.path not in allowed:
                return redirect("password_change")
        return self.get_response(request)


class TwoFactorMiddleware:
    """Require the second factor.

    A user with a confirmed device must give a code after the password before
    anything else; a user who must use two-factor (register managers, staff
    users of admin, or everybody with OTP_REQUIRED_FOR_ALL) but has no device
    is sent to set one up first. Admin is therefore reached only with it.
    """

    allowed_url_names = (
        "two-factor-verify",
        "two-factor-setup",
        "logout",
        "set_language",
        "password_change",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not user.is_verified():
            from registry.two_factor import has_device, requires_two_factor

            allowed = {reverse(name) for name in self.allowed_url_names}
            if request.path not in allowed:
                if has_device(user):
                    return redirect_with_next("two-factor-verify", request)
                if requires_two_factor(user):
                    return redirect_with_next("two-factor-setup", request)
        return self.get_response(request)


def redirect_with_next(name, request):
    from django.utils.http import url_has_allowed_host_and_scheme, urlencode

    target = request.get_full_path()
    if request.method == "GET" and url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return redirect(f"{reverse(name)}?{urlencode({'next': target})}")
    return redirect(name)
