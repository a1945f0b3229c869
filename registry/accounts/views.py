"""Logging in, the second factor, passwords, and the access review."""

from base64 import b32encode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from .access_rights import manageable_users
from .forms import LoginForm, OwnPasswordChangeForm, PasswordConfirmForm, TwoFactorCodeForm
from .middleware import PASSWORD_CHANGE_REQUIRED, redirect_with_next
from .reauth import (
    lockout_after_wrong_password,
    mark_authenticated,
    recent_authentication_required,
)
from .selectors import access_review
from .services import (
    access_changed,
    account_deactivate,
    account_password_changed,
    account_reactivate,
)
from .two_factor import (
    has_device,
    pending_totp_device,
    qr_svg,
    two_factor_confirm,
    two_factor_verify,
)


class LoginView(auth_views.LoginView):
    """The login page; public. django-axes throttles it, registry.accounts.lock
    locks an account guessed at from many addresses."""

    authentication_form = LoginForm
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    """Any logged-in user changes their own password: after the second factor
    if they have a device (TwoFactorMiddleware)."""

    form_class = OwnPasswordChangeForm
    success_url = reverse_lazy("home")

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        del kwargs["user"]
        return {**kwargs, "request": self.request}

    def form_invalid(self, form):
        if (locked_out := lockout_after_wrong_password(self.request)) is not None:
            return locked_out
        return super().form_invalid(form)

    @transaction.atomic
    def form_valid(self, form):
        response = super().form_valid(form)
        account_password_changed(user=self.request.user, request=self.request)
        if form.renamed_from is not None:
            access_changed(
                obj=self.request.user,
                message=f"username: {form.renamed_from} -> {self.request.user.get_username()}",
                by=self.request.user,
                request=self.request,
            )
        self.request.session[PASSWORD_CHANGE_REQUIRED] = False
        messages.success(self.request, _("Your password has been changed."))
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["must_change"] = self.request.session.get(PASSWORD_CHANGE_REQUIRED, False)
        return context


@login_not_required
def admin_login(request):
    """Admin has no login page of its own: everybody logs in through ours, which is
    throttled and audited. A logged-in user who is sent here lacks admin rights."""
    if request.user.is_authenticated:
        raise PermissionDenied
    query = request.META.get("QUERY_STRING", "")
    return redirect(f"{reverse('login')}?{query}" if query else reverse("login"))


def _next_url(request):
    target = request.POST.get("next") or request.GET.get("next") or ""
    # A path of this site only: redirect() would take "abc" for a URL's name.
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        return target
    return reverse("home")


def two_factor_verify_view(request):
    """The second step of logging in: any user with a device."""
    if request.user.is_verified() or not has_device(request.user):
        return redirect(_next_url(request))
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if two_factor_verify(user=request.user, token=form.cleaned_data["token"], request=request):
            return redirect(_next_url(request))
        form.add_error(
            "token",
            _(
                "The code is not correct. Wait a moment before trying again: "
                "each wrong code doubles the wait."
            ),
        )
    return render(
        request, "registration/two_factor_verify.html", {"form": form, "next": _next_url(request)}
    )


def two_factor_setup_view(request):
    """Set up an authenticator app (any user; register managers must), or
    replace it: a user who has a device must have given its code in this
    session, and everybody confirms the password if the login is not fresh."""
    if has_device(request.user) and not request.user.is_verified():
        return redirect_with_next("two-factor-verify", request)
    return _two_factor_setup(request)


@recent_authentication_required
def _two_factor_setup(request):
    replacing = has_device(request.user)
    device = pending_totp_device(request.user)
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor_confirm(
            user=request.user, device=device, token=form.cleaned_data["token"], request=request
        )
        if codes:
            return render(
                request,
                "registration/two_factor_done.html",
                {"codes": codes, "next": _next_url(request)},
            )
        form.add_error(
            "token",
            _("The code is not correct. Check the time of your phone and try the next code."),
        )
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "replacing": replacing,
            "qr": qr_svg(device),
            "secret": b32encode(device.bin_key).decode(),
            "next": _next_url(request),
        },
    )


def reauthenticate(request):
    """Confirm the password before a sensitive action (any logged-in user).

    A wrong password is a failed login (audited, counted by django-axes and by
    the account's lock); at the limit the session ends as a login is locked.
    """
    form = PasswordConfirmForm(request.POST or None, request=request)
    if request.method == "POST":
        if form.is_valid():
            mark_authenticated(request)
            return redirect(_next_url(request))
        if (locked_out := lockout_after_wrong_password(request)) is not None:
            return locked_out
    return render(
        request, "registration/reauthenticate.html", {"form": form, "next": _next_url(request)}
    )


@permission_required("auth.change_user", raise_exception=True)
def access_review_view(request):
    """Every account: roles, active, last login, the confidentiality
    undertaking, customer records viewed and exported in the last 30 days
    (register manager)."""
    accounts = list(access_review())
    return render(
        request,
        "registry/access_review.html",
        {
            "accounts": accounts,
            "dormant": [account for account in accounts if account.is_dormant],
            "unsigned": [
                account
                for account in accounts
                if account.is_active and account.confidentiality_signed_on is None
            ],
            "dormant_days": settings.DORMANT_DAYS,
        },
    )


@permission_required("auth.change_user", raise_exception=True)
@recent_authentication_required
def account_deactivate_view(request, pk):
    """Deactivate an account from the access review (register manager): asked
    on a page of its own first, undone by reactivating. A superuser's account
    answers 404 to anybody but a superuser."""
    user = get_object_or_404(manageable_users(request.user), pk=pk)
    if user == request.user:
        messages.error(request, _("You cannot deactivate your own account."))
        return redirect("registry:access-review")
    if request.method == "POST":
        if account_deactivate(user=user, by=request.user, request=request, reason="access review"):
            messages.success(
                request,
                _("%(user)s deactivated. Reactivate the account from this page if needed.")
                % {"user": user.get_username()},
            )
        return redirect("registry:access-review")
    return render(request, "registry/account_deactivate.html", {"account": user})


@require_POST
@permission_required("auth.change_user", raise_exception=True)
@recent_authentication_required
def account_reactivate_view(request, pk):
    """Let a deactivated account log in again (register manager; audited)."""
    user = get_object_or_404(manageable_users(request.user), pk=pk)
    if account_reactivate(user=user, by=request.user, request=request):
        messages.success(request, _("%(user)s can log in again.") % {"user": user.get_username()})
    return redirect("registry:access-review")
