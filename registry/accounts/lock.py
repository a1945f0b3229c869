"""The lock of an account's password logins, against guessing from many addresses.

django-axes locks a client address, and a user name with one browser; a botnet
has many of both. Here every failed password check of an account counts, from
anywhere: after ACCOUNT_LOCK_FAILURES of them within
ACCOUNT_LOCK_WINDOW_MINUTES the account's password logins are refused until a
register manager lifts the lock in admin. The failures are the account's
`login_failed` events of the audit trail, and the lock is a column of
AccountSecurity, so every gunicorn host sees the same count and the same lock.

A locked account answers a login exactly as a wrong password does, so the lock
tells an outsider nothing about which user names exist.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create

from .models import AccountSecurity


def password_was_checked(request):
    """Whether a failed login reached a password check (AccountLockBackend),
    rather than being refused by django-axes' lockout without one."""
    return bool(getattr(request, "password_checked", False))


def account_is_locked(user):
    return AccountSecurity.objects.filter(user=user, login_locked_at__isnull=False).exists()


def locked_accounts():
    """Accounts whose password logins are locked, longest locked first."""
    return (
        get_user_model()
        .objects.filter(security__login_locked_at__isnull=False)
        .order_by("security__login_locked_at", "username")
        .values("pk", "username", "security__login_locked_at")
    )


def recent_login_failures(user):
    """Failed password checks of the account within the window, since the last lift."""
    since = timezone.now() - timedelta(minutes=settings.ACCOUNT_LOCK_WINDOW_MINUTES)
    lifted = (
        AccountSecurity.objects.filter(user=user).values_list("lock_lifted_at", flat=True).first()
    )
    if lifted is not None:
        since = max(since, lifted)
    return (
        AuditEvent.objects.for_target(user)
        .filter(action=AuditEvent.Action.LOGIN_FAILED, at__gte=since)
        .count()
    )


@transaction.atomic
def account_login_failed(*, user, request=None):
    """Lock the account if this failure (already in the audit trail) reached the limit.

    Parallel failures may all reach it; only the one that sets the lock audits it.
    """
    if recent_login_failures(user) < settings.ACCOUNT_LOCK_FAILURES:
        return False
    AccountSecurity.objects.get_or_create(user=user)
    locked = AccountSecurity.objects.filter(user=user, login_locked_at__isnull=True).update(
        login_locked_at=timezone.now()
    )
    if locked:
        audit_event_create(
            action=AuditEvent.Action.ACCOUNT_LOCKED,
            target=user,
            request=request,
            detail={
                "failures": settings.ACCOUNT_LOCK_FAILURES,
                "minutes": settings.ACCOUNT_LOCK_WINDOW_MINUTES,
            },
        )
    return bool(locked)


@transaction.atomic
def account_login_unlock(*, user, by, request=None):
    """Lift the lock; the failures before it no longer count towards the next one."""
    now = timezone.now()
    lifted = AccountSecurity.objects.filter(user=user, login_locked_at__isnull=False).update(
        login_locked_at=None, lock_lifted_at=now
    )
    if lifted:
        audit_event_create(
            action=AuditEvent.Action.ACCOUNT_UNLOCKED, by=by, target=user, request=request
        )
    return bool(lifted)


class AccountLockBackend(ModelBackend):
    """Django's ModelBackend that refuses the password of a locked account.

    The lock is checked after the password, so that a locked account costs the
    same time to refuse as a wrong password does. Sessions that were open
    before the lock go on (get_user is ModelBackend's): only logins are locked.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is not None:
            # django-axes refuses a locked-out client before this backend runs;
            # only a password that was really checked counts as a failure.
            request.password_checked = True
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and account_is_locked(user):
            return None
        return user


def lockout_response(request, original_response=None, credentials=None):
    """The page a locked-out login gets: HTTP 429 with when to try again."""
    cool_off = settings.AXES_COOLOFF_TIME
    retry_at = timezone.localtime() + cool_off
    response = render(
        request,
        "registration/locked_out.html",
        {"retry_at": retry_at, "cool_off_minutes": int(cool_off.total_seconds() // 60)},
        status=429,
    )
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
