"""The shell's own pages: the front page and the public privacy notice."""

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render

from registry.accounts.forms import LoginForm
from registry.accounts.roles import role_labels


@login_not_required
def home(request):
    """The front page: the public privacy notice with a login form for anonymous
    visitors, as the business's original page was; the dashboard for users."""
    if request.user.is_authenticated:
        return render(request, "home/dashboard.html", {"roles": role_labels(request.user)})
    return render(request, "home/notice.html", {"form": LoginForm(request)})


@login_not_required
def privacy_notice(request):
    """The privacy notice (register description); public."""
    return render(request, "home/notice.html", {"form": None})


@login_not_required
def csrf_failure(request, reason=""):
    """A translated 403 for a form sent without a valid CSRF token (e.g. an old tab)."""
    return render(request, "403_csrf.html", status=403)
