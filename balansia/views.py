"""The shell's own pages: the front page and the public privacy notice."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.views.i18n import JavaScriptCatalog

from registry.accounts.forms import LoginForm
from registry.accounts.roles import role_labels
from registry.notice import processors, register_content


@login_not_required
def home(request):
    """The front page: the public privacy notice with a login form for anonymous
    visitors, as the business's original page was; the dashboard for users."""
    if request.user.is_authenticated:
        return render(request, "home/dashboard.html", {"roles": role_labels(request.user)})
    return render(request, "home/notice.html", _notice_context(form=LoginForm(request)))


@login_not_required
def privacy_notice(request):
    """The privacy notice (register description); public."""
    return render(request, "home/notice.html", _notice_context(form=None))


def _notice_context(*, form):
    """What the notice tells besides the controller's details (the context
    processor `register` gives those to every page)."""
    listed = processors()
    return {
        "form": form,
        "register_content": register_content(),
        "processors": listed,
        "transfers": [processor for processor in listed if processor.outside_eu_eea],
        "backup_keep_daily": settings.BACKUP_KEEP_DAILY,
        "backup_keep_monthly": settings.BACKUP_KEEP_MONTHLY,
    }


@login_not_required
def csrf_failure(request, reason=""):
    """A translated 403 for a form sent without a valid CSRF token (e.g. an old tab)."""
    return render(request, "403_csrf.html", status=403)


class AdminJavaScriptCatalog(JavaScriptCatalog):
    """Admin's JavaScript catalog (its selector widget: "Choose all groups"),
    completed by locale/fi/LC_MESSAGES/djangojs.po where Django's Finnish
    catalog has no translation. Admin's own view reads only admin's catalog."""

    packages = ["django.contrib.admin"]

    def get_paths(self, packages):
        return [*super().get_paths(packages), *(str(path) for path in settings.LOCALE_PATHS)]
