from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from registry.accounts.services import expired_sessions_clear, login_records_prune
from registry.audit.models import AuditEvent
from registry.audit.retention import (
    audit_values_count,
    audit_values_prune,
    typed_text_labels,
    typed_texts_prune,
)
from registry.audit.services import audit_event_create
from registry.rights.selectors import logs_cutoff


class Command(BaseCommand):
    help = (
        "Remove what the logs keep longer than AUDIT_KEEP_MONTHS: the search words, "
        "cities typed in the customer list's filter, user names typed at the login, "
        "reasons typed when a session was cancelled and IP addresses of older audit "
        "events (the events stay), the reasons of cancelled sessions of courses over "
        "before then, and django-axes' older login records; also django-axes' "
        "attempts whose lockout is over and the sessions that ended (Django's "
        "clearsessions). Run daily; --dry-run only counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")

    def handle(self, *args, dry_run, **options):
        now = timezone.now()
        cutoff = logs_cutoff(now)
        with transaction.atomic():
            if dry_run:
                events = audit_values_count(cutoff)
            else:
                events = audit_values_prune(before=cutoff, at=now)
            logins = login_records_prune(before=cutoff, dry_run=dry_run)
            sessions = expired_sessions_clear(dry_run=dry_run)
            texts = typed_texts_prune(before=cutoff, dry_run=dry_run)
            counts = {**events, **logins, "sessions": sessions, **texts}
            if not dry_run:
                # The run itself, also when nothing was due: the health page
                # shows when the logs were last pruned.
                audit_event_create(
                    action=AuditEvent.Action.LOGS_PRUNED,
                    detail={"cutoff": cutoff.date().isoformat(), **counts},
                )
        verb = "would be" if dry_run else "were"
        self.stdout.write(
            f"Logs keep {settings.AUDIT_KEEP_MONTHS} months: values from before {cutoff:%Y-%m-%d}."
        )
        self.stdout.write(
            f"Audit events: {counts['events']} {verb} rewritten (search words "
            f"{counts['search_words']}, typed user names {counts['user_names']}, "
            f"typed filter values {counts['filter_values']}, "
            f"reasons for cancelling a session {counts['cancel_reasons']}, "
            f"IP addresses {counts['ip_addresses']})."
        )
        self.stdout.write(
            f"django-axes: {counts['login_records']} login records, "
            f"{counts['failed_login_records']} failed-login records and "
            f"{counts['login_attempts']} attempts past their lockout {verb} deleted."
        )
        self.stdout.write(f"Sessions: {counts['sessions']} that ended {verb} cleared.")
        for name, label in sorted(typed_text_labels().items()):
            self.stdout.write(f"{label}: {counts[name]} {verb} blanked.")
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
