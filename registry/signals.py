"""Receivers that put authentication events into the audit trail.

They only translate a framework signal into a call of the audit service; the
rules live in registry.services.
"""

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from balansia.middleware import PASSWORD_CHANGE_REQUIRED
from balansia.reauth import mark_authenticated

from .models import AuditEvent
from .services import account_password_must_change, audit_event_create


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


@receiver(user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_event_create(action=AuditEvent.Action.LOGOUT, by=user, target=user, request=request)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    username = credentials.get("username", "")
    audit_event_create(
        action=AuditEvent.Action.LOGIN_FAILED,
        target=_account_named(username),
        request=request,
        detail={"username": username[:150]},
    )


@receiver(user_locked_out, dispatch_uid="audit_lockout")
def audit_lockout(sender, request, username, ip_address, **kwargs):
    audit_event_create(
        action=AuditEvent.Action.LOCKOUT,
        target=_account_named(username),
        request=request,
        detail={"username": (username or "")[:150]},
    )
