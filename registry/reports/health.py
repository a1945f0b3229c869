"""The register's health, promise by promise of the privacy notice.

Each line pairs a promise with today's evidence from the system itself, a
status (green, amber or red) and the place to act. Fixed number of queries.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.accounts.lock import locked_accounts
from registry.accounts.selectors import (
    dormant_accounts,
    unsigned_accounts,
    unusual_activity,
)
from registry.audit.models import AuditEvent
from registry.audit.reads import EXPORTS
from registry.backups import last_backup_at, last_verified_at
from registry.repairs import registered_repairs
from registry.rights.models import DataSubjectRequest
from registry.rights.selectors import logs_cutoff, retention_candidates
from registry.roles import REGISTER_MANAGER

GREEN, AMBER, RED = "green", "amber", "red"
STATUS_LABELS = {
    GREEN: gettext_lazy("In order"),
    AMBER: gettext_lazy("Needs attention"),
    RED: gettext_lazy("Act now"),
}

#: A backup older than this is amber, twice as old red.
BACKUP_HOURS = 26
#: A backup verified longer ago than this is amber, twice as long red.
VERIFY_DAYS = 31
#: A retention review longer ago than this, with customers due, is amber.
RETENTION_DAYS = 31
#: Logs pruned longer ago than this, with events old enough, are amber; twice red.
PRUNE_DAYS = 31
#: Failed logins in 30 days beyond this are amber.
FAILED_LOGINS = 50


@dataclass
class Line:
    promise: str
    evidence: str
    status: str
    link: str
    link_text: str

    @property
    def status_label(self):
        return STATUS_LABELS[self.status]


def _when(moment):
    return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def _age_status(moment, limit, now):
    if moment is None or moment < now - 2 * limit:
        return RED
    return GREEN if moment >= now - limit else AMBER


def health(now=None):
    now = now or timezone.now()
    return [
        *_backups(now),
        _two_factor(),
        _dormant(),
        _confidentiality(),
        _retention(now),
        _logs(now),
        _requests(now),
        _exports(now),
        _logins(now),
        _unusual(),
        *_repairs(),
    ]


def _backups(now):
    made, verified = last_backup_at(), last_verified_at()
    trail = reverse("registry:audit-trail") + "?action=backup_verified"
    return [
        Line(
            _("Against disruptions, the data is backed up regularly by copying."),
            _("Last backup %(when)s.") % {"when": _when(made)}
            if made
            else _("No backup has been made."),
            _age_status(made, timedelta(hours=BACKUP_HOURS), now),
            reverse("home") + "#backup-card",
            _("Backups on the dashboard; schedule manage.py backup (README)"),
        ),
        Line(
            _("A backup can be restored: it is verified by restoring it."),
            _("Last verified good %(when)s.") % {"when": _when(verified)}
            if verified
            else _("No backup has been verified."),
            _age_status(verified, timedelta(days=VERIFY_DAYS), now),
            trail,
            _("Verifications in the audit trail; run manage.py backup --verify FILE"),
        ),
    ]


def _two_factor():
    managers = (
        get_user_model()
        .objects.filter(is_active=True, groups__name=REGISTER_MANAGER)
        .annotate(
            has_device=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
        )
        .aggregate(
            total=Count("pk", distinct=True),
            without=Count("pk", filter=Q(has_device=False), distinct=True),
        )
    )
    without = managers["without"]
    return Line(
        _("Access rights are granted and monitored by the person responsible for the register."),
        _("Two-factor authentication is on for every register manager (%(total)s).")
        % {"total": managers["total"]}
        if not without
        else _("%(without)s of %(total)s register managers have no two-factor authentication.")
        % managers,
        RED if without else GREEN,
        reverse("registry:access-review"),
        _("Access review"),
    )


def _dormant():
    count = dormant_accounts(settings.DORMANT_DAYS).count()
    return Line(
        _("Only people whose duties require it use the register."),
        _("%(count)s active accounts without a login for %(days)s days.")
        % {"count": count, "days": settings.DORMANT_DAYS},
        AMBER if count else GREEN,
        reverse("registry:access-review"),
        _("Access review: deactivate dormant accounts"),
    )


def _confidentiality():
    count = unsigned_accounts().count()
    return Line(
        _("Employees who handle register data are bound by confidentiality."),
        _("%(count)s active accounts without a signed confidentiality undertaking.")
        % {"count": count},
        AMBER if count else GREEN,
        reverse("registry:access-review"),
        _("Access review: record the undertakings"),
    )


def _retention(now):
    last_run = (
        AuditEvent.objects.filter(
            Q(action=AuditEvent.Action.RETENTION_RUN)
            | Q(action=AuditEvent.Action.CUSTOMER_ERASED, detail__reason="retention")
        )
        .values_list("at", flat=True)
        .first()
    )
    due = retention_candidates().count()
    ran = (
        _("Last retention run %(when)s.") % {"when": _when(last_run)}
        if last_run
        else _("The retention rule has never been run.")
    )
    status = GREEN
    if due:
        recent = last_run is not None and last_run >= now - timedelta(days=RETENTION_DAYS)
        status = AMBER if recent else RED
    return Line(
        _("Data is kept only as long as needed (%(months)s months after the last activity).")
        % {"months": settings.RETENTION_MONTHS},
        f"{ran} " + _("%(count)s customers are due now.") % {"count": due},
        status,
        reverse("registry:retention"),
        _("Retention review"),
    )


def _logs(now):
    last_run = (
        AuditEvent.objects.filter(action=AuditEvent.Action.LOGS_PRUNED)
        .values_list("at", flat=True)
        .first()
    )
    # Until the first events are AUDIT_KEEP_MONTHS old there is nothing to prune.
    due = AuditEvent.objects.filter(at__lt=logs_cutoff(now)).exists()
    evidence = (
        _("Logs last pruned %(when)s.") % {"when": _when(last_run)}
        if last_run
        else _("The logs have never been pruned.")
    )
    if not due:
        evidence += " " + _("No event is old enough yet.")
    return Line(
        _(
            "The audit trail keeps search words, user names typed at the login and IP "
            "addresses for %(months)s months."
        )
        % {"months": settings.AUDIT_KEEP_MONTHS},
        evidence,
        _age_status(last_run, timedelta(days=PRUNE_DAYS), now) if due else GREEN,
        reverse("registry:audit-trail") + "?action=logs_pruned",
        _("Runs in the audit trail; schedule manage.py prune_logs (README)"),
    )


def _requests(now):
    today = timezone.localdate(now)
    counts = DataSubjectRequest.objects.open().aggregate(
        open=Count("pk"),
        overdue=Count("pk", filter=Q(deadline__lt=today)),
        soon=Count("pk", filter=Q(deadline__gte=today, deadline__lte=today + timedelta(days=7))),
        first=Count("pk", filter=Q(deadline__gte=today)),
    )
    status = RED if counts["overdue"] else AMBER if counts["soon"] else GREEN
    return Line(
        _("The customer has the right to check, change and delete the data about themselves."),
        _("%(open)s open requests; %(overdue)s past the deadline, %(soon)s due within 7 days.")
        % counts,
        status,
        reverse("registry:request-list"),
        _("Data subject requests"),
    )


def _exports(now):
    since = now - timedelta(days=30)
    rows = (
        AuditEvent.objects.filter(action__in=EXPORTS, at__gte=since)
        .values("action")
        .annotate(count=Count("pk"))
        .order_by("action")
    )
    labels = dict(AuditEvent.Action.choices)
    parts = [f"{labels[row['action']]}: {row['count']}" for row in rows]
    whole = any(row["action"] == AuditEvent.Action.REGISTER_EXPORTED for row in rows)
    return Line(
        _("Customer data is not disclosed to outsiders."),
        _("Exports in the last 30 days: %(list)s.") % {"list": "; ".join(parts)}
        if parts
        else _("No exports in the last 30 days."),
        # An export of the whole register is worth a look at its stated purpose.
        AMBER if whole else GREEN,
        reverse("registry:audit-trail"),
        _("Audit trail: each export with its purpose"),
    )


def _logins(now):
    since = now - timedelta(days=30)
    counts = AuditEvent.objects.filter(at__gte=since).aggregate(
        failed=Count("pk", filter=Q(action=AuditEvent.Action.LOGIN_FAILED)),
        lockouts=Count(
            "pk",
            filter=Q(action__in=[AuditEvent.Action.LOCKOUT, AuditEvent.Action.ACCOUNT_LOCKED]),
        ),
    )
    locked = len(locked_accounts())
    status = RED if locked else AMBER if counts["failed"] > FAILED_LOGINS else GREEN
    return Line(
        _(
            "Every user has a personal user name and password; the register is protected from "
            "outsiders."
        ),
        _(
            "In the last 30 days: %(failed)s failed logins, %(lockouts)s lockouts. "
            "Accounts locked now: %(locked)s."
        )
        % {**counts, "locked": locked},
        status,
        reverse("registry:audit-trail") + "?action=login_failed",
        _("Failed logins in the audit trail"),
    )


def _unusual():
    alerts = unusual_activity(hours=24 * 7)
    return Line(
        _("The register is handled as strictly confidential."),
        ngettext(
            "%(count)s time in the last 7 days someone read unusually many customer records "
            "within an hour.",
            "%(count)s times in the last 7 days someone read unusually many customer records "
            "within an hour.",
            len(alerts),
        )
        % {"count": len(alerts)},
        RED if alerts else GREEN,
        reverse("registry:audit-trail"),
        _("Audit trail"),
    )


def _repairs():
    """What older versions wrote wrong and manage.py repair_register has not
    yet repaired (registry.repairs): a line only while there is some."""
    due = [(repair.label, repair.due()) for repair in registered_repairs()]
    if not any(count for _label, count in due):
        return []
    return [
        Line(
            _(
                "The data is used for direct marketing unless the customer has prohibited it, "
                "and the participant lists of courses are kept true."
            ),
            _("Written wrong by an older version, still to repair: %(list)s.")
            % {"list": "; ".join(f"{label}: {count}" for label, count in due if count)},
            AMBER,
            reverse("registry:audit-trail") + "?action=register_repaired",
            _("Run manage.py repair_register once after upgrading (README)"),
        )
    ]
