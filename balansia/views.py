from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
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
