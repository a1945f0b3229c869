from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from registry.imports.services import imports_expire
from registry.imports.unsubscribes import unsubscribes_discard_files


class Command(BaseCommand):
    help = (
        "Discard what imports keep longer than needed: uploaded customer and unsubscribe "
        "files not confirmed within IMPORT_PENDING_HOURS, rejected rows once "
        "IMPORT_UNDO_DAYS have passed. Run it daily from cron: nothing else runs it "
        "(neither the task worker nor opening a page); until it has run, a file waiting "
        "too long is shown as expired and cannot be confirmed."
    )

    def handle(self, *args, **options):
        cancelled, cleared = imports_expire()
        cancelled += unsubscribes_discard_files(
            older_than=timezone.now() - timezone.timedelta(hours=settings.IMPORT_PENDING_HOURS)
        )
        self.stdout.write(
            f"Discarded {cancelled} uploaded files older than {settings.IMPORT_PENDING_HOURS} h "
            f"and the rejected rows of {cleared} imports older than "
            f"{settings.IMPORT_UNDO_DAYS} days."
        )
