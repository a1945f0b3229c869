"""Writes of the register that must be audited (see STYLE.md: services)."""

from django.db import transaction

from balansia.security import client_ip

from .models import AccountSecurity, AuditEvent


def audit_event_create(*, action, by=None, target=None, request=None, detail=None):
    """Append one event to the audit trail.

    Call it inside the transaction of the change it records, so that the change
    and its trace are committed together or not at all.
    """
    return AuditEvent.objects.create(
        actor=by if by is not None and by.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        ip_address=client_ip(request) if request is not None else None,
        detail=detail or {},
    )


def account_require_password_change(*, user, required=True):
    AccountSecurity.objects.update_or_create(
        user=user, defaults={"password_change_required": required}
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
