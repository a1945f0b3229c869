"""Two-factor authentication (TOTP with django-otp, static backup codes)."""

import django_otp
import segno
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.roles import REGISTER_MANAGER, ROLE_CODES, role_code

BACKUP_CODES = 10


def requires_two_factor(user):
    if settings.OTP_REQUIRED_FOR_ALL or user.is_staff or user.is_superuser:
        return True
    # Asked only of a user without a device, before the second factor.
    return role_code(user) == ROLE_CODES[REGISTER_MANAGER]


def has_device(user):
    return user_has_device(user, confirmed=True)


def pending_totp_device(user):
    """The device being set up (not confirmed yet); made on first visit."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def qr_svg(device):
    """The otpauth:// URL as an inline SVG (no script, no style attribute: CSP-safe)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#000", light="#fff")


def _failed(*, user, request, during):
    audit_event_create(
        action=AuditEvent.Action.TWO_FACTOR_FAILED,
        by=user,
        target=user,
        request=request,
        detail={"during": during},
    )


@transaction.atomic
def two_factor_confirm(*, user, device, token, request):
    """Confirm a new TOTP device with its first code; returns the backup codes,
    or None if the code was wrong.

    Until this moment the user's old authenticator and backup codes work as
    before; now they are replaced: one authenticator, ten new backup codes.
    """
    replacing = has_device(user)
    if replacing and not request.user.is_verified():
        raise PermissionDenied("Replacing a device needs the second factor in this session.")
    allowed, _info = device.verify_is_allowed()
    if not allowed or not device.verify_token(token):
        _failed(user=user, request=request, during="setup")
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    backup = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=backup, token=code) for code in codes)
    _second_factor_given(request, device)
    audit_event_create(
        action=(
            AuditEvent.Action.TWO_FACTOR_REPLACED
            if replacing
            else AuditEvent.Action.TWO_FACTOR_ENABLED
        ),
        by=user,
        target=user,
        request=request,
    )
    return codes


@transaction.atomic
def two_factor_verify(*, user, token, request):
    """Check a code against the user's devices (authenticator, then backup
    codes; a throttled device is skipped). Every failure is audited.

    The user's device rows are locked first, so that checks of one user run
    one at a time: a backup code sent by several requests at once works once,
    and every wrong code counts towards the throttle (django-otp reads and
    writes its counters without a lock)."""
    devices = [
        *TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"),
        *StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"),
    ]
    for device in devices:
        allowed, _info = device.verify_is_allowed()
        if allowed and device.verify_token(token):
            _second_factor_given(request, device)
            return True
    _failed(user=user, request=request, during="login")
    return False


def _second_factor_given(request, device):
    django_otp.login(request, device)
    # A new session key for the session that now has both factors, as the
    # password login gets one: a key seen before this step opens nothing.
    request.session.cycle_key()


def device_changed_in_admin(*, device, change, by, request):
    """Audit a change of a two-factor device made in Django admin (superusers)."""
    audit_event_create(
        action=(
            AuditEvent.Action.TWO_FACTOR_REMOVED
            if change == "deleted"
            else AuditEvent.Action.TWO_FACTOR_CHANGED
        ),
        by=by,
        target=device.user,
        request=request,
        detail={
            "device": device._meta.label_lower,
            "name": device.name[:64],
            **({} if change == "deleted" else {"change": change}),
        },
    )
