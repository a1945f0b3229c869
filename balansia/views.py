from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from registry.roles import role_labels
from registry.services import account_password_changed

from .middleware import PASSWORD_CHANGE_REQUIRED


@login_not_required
def home(request):
    """The front page: the public privacy notice with a login form for anonymous
    visitors, as the business's original page was; the dashboard for users."""
    if request.user.is_authenticated:
        return render(request, "home/dashboard.html", {"roles": role_labels(request.user)})
    return render(request, "home/notice.html", {"form": AuthenticationForm(request)})


@login_not_required
def privacy_notice(request):
    """The privacy notice (register description); public."""
    return render(request, "home/notice.html", {"form": None})


class LoginView(auth_views.LoginView):
    """The login page; public. django-axes throttles it."""

    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    """Any logged-in user changes their own password."""

    success_url = reverse_lazy("home")

    @transaction.atomic
    def form_valid(self, form):
        response = super().form_valid(form)
        account_password_changed(user=self.request.user, request=self.request)
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


@login_not_required
def csrf_failure(request, reason=""):
    """A translated 403 for a form sent without a valid CSRF token (e.g. an old tab)."""
    return render(request, "403_csrf.html", status=403)


class TwoFactorCodeForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=16,
        help_text=_("The six digits of your authenticator app, or one of your backup codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self):
        return "".join(self.cleaned_data["token"].split())


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
    from registry.two_factor import has_device, two_factor_verify

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
    """Set up an authenticator app: every user may; register managers must."""
    from registry.two_factor import pending_totp_device, qr_svg, two_factor_confirm

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
    from base64 import b32encode

    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "qr": qr_svg(device),
            "secret": b32encode(device.bin_key).decode(),
            "next": _next_url(request),
        },
    )


class ReauthenticateForm(forms.Form):
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        if not self.user.check_password(self.cleaned_data["password"]):
            raise forms.ValidationError(_("The password is not correct."))
        return self.cleaned_data["password"]


def reauthenticate(request):
    """Confirm the password before a sensitive action (any logged-in user)."""
    from registry.models import AuditEvent
    from registry.services import audit_event_create

    from .reauth import mark_authenticated

    form = ReauthenticateForm(request.POST or None, user=request.user)
    if request.method == "POST":
        if form.is_valid():
            mark_authenticated(request)
            return redirect(_next_url(request))
        audit_event_create(
            action=AuditEvent.Action.LOGIN_FAILED,
            by=request.user,
            target=request.user,
            request=request,
            detail={"during": "reauthentication"},
        )
    return render(
        request, "registration/reauthenticate.html", {"form": form, "next": _next_url(request)}
    )
