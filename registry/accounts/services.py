"""Writes about accounts, each audited in the same transaction."""

from datetime import timedelta
from importlib import import_module

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.erasure import erasure_handler

from .models import AccountSecurity


def account_require_password_change(*, user, required=True):
    AccountSecurity.objects.update_or_create(
        user=user, defaults={"password_change_required": required}
    )


def account_confidentiality_signed(*, user, signed_on):
    """Record the day the person signed the confidentiality undertaking."""
    AccountSecurity.objects.update_or_create(
        user=user, defaults={"confidentiality_signed_on": signed_on}
    )


def account_password_must_change(user):
    return AccountSecurity.objects.filter(user=user, password_change_required=True).exists()


@transaction.atomic
def account_password_changed(*, user, request):
    """Record that a user chose a new password and lift any pending requirement."""
    AccountSecurity.objects.filter(user=user).update(password_change_required=False)
    audit_event_create(
        action=AuditEvent.Action.PASSWORD_CHANGED, by=user, target=user, request=request
    )


@transaction.atomic
def account_deactivate(*, user, by, request=None, reason=""):
    """Deactivate an account (never delete it: its history must stay attributable)."""
    if not user.is_active:
        return False
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    audit_event_create(
        action=AuditEvent.Action.ACCOUNT_DEACTIVATED,
        by=by,
        target=user,
        request=request,
        detail={"reason": reason} if reason else None,
    )
    return True


@transaction.atomic
def account_reactivate(*, user, by, request=None):
    """Undo a deactivation: the person may log in again (audited)."""
    if user.is_active:
        return False
    type(user).objects.filter(pk=user.pk).update(is_active=True)
    audit_event_create(
        action=AuditEvent.Action.ACCOUNT_REACTIVATED, by=by, target=user, request=request
    )
    return True


def access_changed(*, obj, message, by, request=None):
    """Record a change of accounts, groups or permissions made in Django admin."""
    audit_event_create(
        action=AuditEvent.Action.ACCESS_CHANGED,
        by=by,
        target=obj,
        request=request,
        detail={
            "object": str(obj)[:150],
            "change": message if isinstance(message, (str, list)) else str(message),
        },
    )


@erasure_handler("axes.accessattempt")
def _erase_from_login_records(erasure):
    """django-axes keeps the user name typed in a failed login and the raw
    form data; someone may have typed a customer's email there."""
    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        text_fields = [
            f.name for f in model._meta.fields if f.name in {"username", "get_data", "post_data"}
        ]
        erasure.scrub_rows(model.objects.all(), text_fields)


def login_records_prune(*, before, dry_run=False):
    """django-axes' records of logins and of failed logins from before
    `before`, with its own reset_logs and reset_failure_logs (which take whole
    days), and its attempts whose lockout is over (axes removes those itself,
    but only when someone next logs in). Returns the counts; `dry_run` only
    counts."""
    now = timezone.now()
    days = (now - before).days
    logs_limit = now - timedelta(days=days)
    attempts_limit = now - get_cool_off()
    expired_attempts = AccessAttempt.objects.filter(attempt_time__lte=attempts_limit)
    if dry_run:
        return {
            "login_records": AccessLog.objects.filter(attempt_time__lte=logs_limit).count(),
            "failed_login_records": AccessFailureLog.objects.filter(
                attempt_time__lte=logs_limit
            ).count(),
            "login_attempts": expired_attempts.count(),
        }
    # Not axes' reset_attempts: it would also lift the lockouts still running.
    _total, deleted = expired_attempts.delete()
    return {
        "login_records": AxesProxyHandler.reset_logs(age_days=days),
        "failed_login_records": AxesProxyHandler.reset_failure_logs(age_days=days),
        "login_attempts": deleted.get(AccessAttempt._meta.label, 0),
    }


def expired_sessions_clear(*, dry_run=False):
    """Django's clearsessions: a session that ended stays in the database (with
    the user it belonged to) until it is cleared. Returns how many ended."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    expired = store.get_model_class().objects.filter(expire_date__lt=timezone.now()).count()
    if not dry_run:
        store.clear_expired()
    return expired
