"""Reads for monitoring access: the access review, dormant accounts, unusual activity."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FilteredRelation,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    ValueRange,
    When,
    Window,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.audit.models import AuditEvent
from registry.audit.reads import COUNTING_ROWS, EXPORTS, LISTS, READS, VIEWS

#: Audit actions that add, replace or remove a two-factor device of the target user.
DEVICE_CHANGES = [
    AuditEvent.Action.TWO_FACTOR_ENABLED,
    AuditEvent.Action.TWO_FACTOR_REPLACED,
    AuditEvent.Action.TWO_FACTOR_REMOVED,
    AuditEvent.Action.TWO_FACTOR_CHANGED,
]


def _records(event=""):
    """The customer records an event read, as registry.audit.reads says: its
    `rows` for a read that counts them (a list, a file of many; one when an
    old event has no count), one for the others (a page or a file about one
    person). `event` is the path to the event ("" for the event itself). A
    page shown again is read again and counts again, as a customer's page
    opened twice does: the count is of reads, not of different people."""
    action, detail = f"{event}action", f"{event}detail"
    return Case(
        When(
            Q(**{f"{action}__in": COUNTING_ROWS}),
            then=Coalesce(Cast(KeyTextTransform("rows", detail), IntegerField()), 1),
        ),
        default=Value(1),
        output_field=IntegerField(),
    )


def _dormant(days):
    """Active, and no login for `days` days (or never, if older than that)."""
    limit = timezone.now() - timedelta(days=days)
    return Q(is_active=True) & (
        Q(last_login__lt=limit) | Q(last_login__isnull=True, date_joined__lt=limit)
    )


def access_review():
    """Every account with its roles, the customer records it read (_records)
    and its exports in the last 30 days, the last change of its two-factor
    devices (when and what), the day its confidentiality undertaking was
    signed, and whether it is dormant (no login for DORMANT_DAYS)."""
    since = timezone.now() - timedelta(days=30)
    device_changes = AuditEvent.objects.filter(
        action__in=DEVICE_CHANGES,
        target_type=get_user_model()._meta.label_lower,
        target_id=Cast(OuterRef("pk"), CharField()),
    ).order_by("-at", "-id")
    return (
        get_user_model()
        .objects.prefetch_related("groups")
        # The period in the join's ON, not in the aggregates' FILTER: the
        # database reads the month's events off the index on their time
        # instead of joining every event ever (11 s over 4 million events).
        .annotate(
            recent=FilteredRelation(
                "audit_events",
                condition=Q(
                    audit_events__at__gte=since,
                    audit_events__action__in=list(READS),
                ),
            )
        )
        .annotate(
            customers_viewed=Coalesce(
                Sum(_records("recent__"), filter=Q(recent__action__in=[*VIEWS, *LISTS])),
                0,
            ),
            exports=Count("recent", filter=Q(recent__action__in=EXPORTS)),
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


class _Seconds(Func):
    """A moment as seconds since 1970, a number a window's RANGE can count in."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(expressions)s)"

    def as_sqlite(self, compiler, connection, **extra_context):
        # SQLite keeps the moment as UTC text, which julianday() reads.
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
            **extra_context,
        )


#: The alert's hour: a read and whatever the user read in the 3,600 seconds
#: after it. The moments are in fractional seconds: with 3,599 (until the
#: eleventh probe) reads 59 minutes 59.5 seconds apart counted apart.
_HOUR_AFTER = 3600


class _HourAfter(ValueRange):
    """RANGE BETWEEN CURRENT ROW AND 3600 FOLLOWING. (Django refuses an
    offset on PostgreSQL, which has taken one since version 11.)"""

    def __init__(self):
        super().__init__(start=0, end=_HOUR_AFTER)

    def window_frame_start_end(self, connection, start, end):
        return "CURRENT ROW", f"{_HOUR_AFTER} FOLLOWING"


def unusual_activity(hours=24):
    """Users who, within some 60 minutes of the last `hours`, read more
    customer records than UNUSUAL_ACTIVITY_PER_HOUR: pages about one customer
    count one each, lists and files their rows (every read of
    registry.audit.reads, _records), newest first.

    Any 60 minutes, not clock hours (the tenth probe: the limit's worth read
    at 10:50 and again at 11:10 raised nothing): the database sums each
    read with the user's reads of the hour that follows it (a window over
    the moments in seconds) and returns only the reads that start an hour
    over the limit. One burst is one alert, from its first read: a read
    within the hour of an alert already told starts no other."""
    since = timezone.now() - timedelta(hours=hours)
    starts = (
        AuditEvent.objects.filter(at__gte=since, actor__isnull=False, action__in=list(READS))
        .annotate(
            records=Window(
                Sum(_records()),
                partition_by=[F("actor")],
                order_by=_Seconds("at").asc(),
                frame=_HourAfter(),
            )
        )
        .filter(records__gt=settings.UNUSUAL_ACTIVITY_PER_HOUR)
        .values_list("actor", "actor__username", "at", "records")
        .order_by("actor", "at", "id")
    )
    alerts, told_until = [], {}
    for actor, username, at, records in starts:
        if actor in told_until and at <= told_until[actor]:
            continue
        told_until[actor] = at + timedelta(seconds=_HOUR_AFTER)
        alerts.append({"user_id": actor, "username": username, "hour": at, "records": records})
    return sorted(alerts, key=lambda alert: (-alert["hour"].timestamp(), alert["username"]))
