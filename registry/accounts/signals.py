"""Receivers that put authentication events into the audit trail.

They only translate a framework signal into a call of the audit service; the
rules live in registry.services.
"""

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create, client_ip

from .lock import account_login_failed, password_was_checked
from .middleware import PASSWORD_CHANGE_REQUIRED, session_touched
from .reauth import mark_authenticated
from .services import account_password_must_change


def _account_named(username):
    if not username:
        return None
    User = get_user_model()
    return User.objects.filter(**{User.USERNAME_FIELD: username}).first()


@receiver(user_logged_in, dispatch_uid="audit_login")
def audit_login(sender, request, user, **kwargs):
    audit_event_create(action=AuditEvent.Action.LOGIN, by=user, target=user, request=request)
    if request is not None and hasattr(request, "session"):
        request.session[PASSWORD_CHANGE_REQUIRED] = account_password_must_change(user)
        mark_authenticated(request)
        session_touched(request.session)  # the login saves the session


@receiver(user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_event_create(action=AuditEvent.Action.LOGOUT, by=user, target=user, request=request)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    """Audit a wrong password, at the login page or when a logged-in user
    confirms theirs, and count it towards the lock of the account.

    An attempt that django-axes refused without checking the password (the
    client is locked out) is neither: otherwise one locked-out address could
    lock any account, and fill the append-only trail, at no cost.
    """
    if not password_was_checked(request):
        return
    username = credentials.get("username", "")
    account = _account_named(username)
    user = getattr(request, "user", None)
    confirming = user is not None and user.is_authenticated
    detail = {"username": username[:150]}
    if confirming:
        detail["during"] = "reauthentication"
    audit_event_create(
        action=AuditEvent.Action.LOGIN_FAILED,
        by=user if confirming else None,
        target=account,
        request=request,
        detail=detail,
    )
    if account is not None:
        account_login_failed(user=account, request=request)


@receiver(user_locked_out, dispatch_uid="audit_lockout")
def audit_lockout(sender, request, username, ip_address, **kwargs):
    """Audit a lockout once: django-axes signals it again at every refused try."""
    recent = timezone.now() - settings.AXES_COOLOFF_TIME
    if AuditEvent.objects.filter(
        action=AuditEvent.Action.LOCKOUT, ip_address=client_ip(request), at__gte=recent
    ).exists():
        return
    audit_event_create(
        action=AuditEvent.Action.LOCKOUT,
        target=_account_named(username),
        request=request,
        detail={"username": (username or "")[:150]},
    )
