"""Reads for monitoring access: the access review, dormant accounts, unusual activity."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    BooleanField,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncHour
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.audit.models import AuditEvent

#: Audit actions that read or export customer records.
VIEWS = [AuditEvent.Action.CUSTOMER_VIEWED]
#: Lists of customers shown on a page: their rows are read as well.
LISTS = [AuditEvent.Action.CUSTOMER_SEARCHED]


EXPORTS = [
    AuditEvent.Action.REGISTER_EXPORTED,
    AuditEvent.Action.MARKETING_LIST_EXPORTED,
    AuditEvent.Action.PARTICIPANT_LIST_EXPORTED,
    AuditEvent.Action.ACCESS_REPORT_EXPORTED,
]


#: Audit actions that add, replace or remove a two-factor device of the target user.
DEVICE_CHANGES = [
    AuditEvent.Action.TWO_FACTOR_ENABLED,
    AuditEvent.Action.TWO_FACTOR_REPLACED,
    AuditEvent.Action.TWO_FACTOR_REMOVED,
    AuditEvent.Action.TWO_FACTOR_CHANGED,
]


def _dormant(days):
    """Active, and no login for `days` days (or never, if older than that)."""
    limit = timezone.now() - timedelta(days=days)
    return Q(is_active=True) & (
        Q(last_login__lt=limit) | Q(last_login__isnull=True, date_joined__lt=limit)
    )


def access_review():
    """Every account with its roles, its reads and exports of the last 30 days,
    the last change of its two-factor devices (when and what), the day its
    confidentiality undertaking was signed, and whether it is dormant (no
    login for DORMANT_DAYS)."""
    since = timezone.now() - timedelta(days=30)
    recent = Q(audit_events__at__gte=since)
    device_changes = AuditEvent.objects.filter(
        action__in=DEVICE_CHANGES,
        target_type=get_user_model()._meta.label_lower,
        target_id=Cast(OuterRef("pk"), CharField()),
    ).order_by("-at", "-id")
    return (
        get_user_model()
        .objects.prefetch_related("groups")
        .annotate(
            customers_viewed=Count(
                "audit_events", filter=recent & Q(audit_events__action__in=VIEWS)
            ),
            exports=Count("audit_events", filter=recent & Q(audit_events__action__in=EXPORTS)),
            has_two_factor=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
            device_changed_at=Subquery(device_changes.values("at")[:1]),
            device_change=Subquery(device_changes.values("action")[:1]),
            confidentiality_signed_on=F("security__confidentiality_signed_on"),
            is_dormant=ExpressionWrapper(
                _dormant(settings.DORMANT_DAYS), output_field=BooleanField()
            ),
        )
        .order_by("-is_active", "username")
    )


def dormant_accounts(days):
    """Active accounts with no login for `days` days (or never, if older than that)."""
    return get_user_model().objects.filter(_dormant(days)).order_by("last_login", "username")


def unsigned_accounts():
    """Active accounts whose confidentiality undertaking has no signing day
    (none recorded, or no AccountSecurity row at all)."""
    return get_user_model().objects.filter(
        is_active=True, security__confidentiality_signed_on__isnull=True
    )


def unusual_activity(hours=24):
    """Users who, within some hour of the last `hours`, viewed or exported more
    customer records than UNUSUAL_ACTIVITY_PER_HOUR (views count one each,
    exports and the pages of customer lists count their rows)."""
    threshold = settings.UNUSUAL_ACTIVITY_PER_HOUR
    since = timezone.now() - timedelta(hours=hours)
    events = AuditEvent.objects.filter(at__gte=since, actor__isnull=False)
    views = (
        events.filter(action__in=VIEWS)
        .annotate(hour=TruncHour("at"))
        .values("actor", "actor__username", "hour")
        .annotate(records=Count("id"))
    )
    exports = (
        events.filter(action__in=[*EXPORTS, *LISTS])
        .annotate(
            hour=TruncHour("at"), rows=Cast(KeyTextTransform("rows", "detail"), IntegerField())
        )
        .values("actor", "actor__username", "hour")
        .annotate(records=Sum("rows"))
    )
    totals = {}
    for row in [*views, *exports]:
        key = (row["actor"], row["actor__username"], row["hour"])
        totals[key] = totals.get(key, 0) + (row["records"] or 0)
    return sorted(
        (
            {"user_id": actor, "username": username, "hour": hour, "records": records}
            for (actor, username, hour), records in totals.items()
            if records > threshold
        ),
        key=lambda alert: alert["hour"],
        reverse=True,
    )
