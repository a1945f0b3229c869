from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.repairs import registered_repairs


class Command(BaseCommand):
    help = (
        "Repair what older versions wrote wrong (README, 'Upgrading'): consents an import "
        "dated at noon, customers added with an address on the suppression list without "
        "its objection, places on coming courses left taken by erased customers. Run once "
        "after upgrading; a second run changes nothing but the audit trail's record of the "
        "run. Use --dry-run to count first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")

    def handle(self, *args, dry_run, **options):
        repairs = registered_repairs()
        # Counts only, never names: the output goes to a terminal, cron's
        # mail or a log, which no erasure reaches.
        if dry_run:
            self.stdout.write("To repair:")
            for repair in repairs:
                self.stdout.write(f"  {repair.label}: {repair.due()}")
            self.stdout.write("Dry run: nothing was changed.")
            return
        now = timezone.now()
        with transaction.atomic():
            repaired = {repair.name: repair.repair(now) for repair in repairs}
            left = {repair.name: repair.due() for repair in repairs}
            # The run itself, also when nothing was due (as a retention run):
            # its counts, each change having its own event. What it left
            # none of needs no reading of the older rows again (the health
            # page counts only what came since).
            audit_event_create(
                action=AuditEvent.Action.REGISTER_REPAIRED,
                detail={"repaired": repaired, "left": left},
            )
        if any(repaired.values()):
            self.stdout.write("Repaired:")
            for repair in repairs:
                self.stdout.write(f"  {repair.label}: {repaired[repair.name]}")
        else:
            self.stdout.write(self.style.SUCCESS("Nothing to repair."))
        if any(left.values()):
            # The objections of customers added by nobody the register
            # knows: there is no one to record them as.
            self.stdout.write(self.style.WARNING("Left as they were (README, 'Upgrading'):"))
            for repair in repairs:
                if left[repair.name]:
                    self.stdout.write(f"  {repair.label}: {left[repair.name]}")
