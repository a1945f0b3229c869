from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry.imports.reading import ImportFileError, read_table
from registry.imports.services import AccountNoLongerAllowed
from registry.imports.unsubscribes import (
    Outcome,
    UnsubscribeStateError,
    analyse,
    unsubscribes_apply,
    unsubscribes_upload,
)

PERMISSION = "registry.use_marketing_lists"


class Command(BaseCommand):
    help = (
        "Import the newsletter service's unsubscribed, cleaned (hard-bounced) and "
        "complained addresses, as the unsubscribe page does: each matched customer's "
        "email consent is withdrawn, audited. Use --dry-run to see what would happen."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--user", required=True, help="User name of the person importing (audit trail)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Check only; write nothing.")

    def handle(self, *args, file, user, dry_run, **options):
        by = get_user_model().objects.filter(username=user, is_active=True).first()
        if by is None or not by.has_perm(PERMISSION):
            raise CommandError(f"No active user {user!r} with the marketing list permission.")
        try:
            content = file.read_bytes()
            analysis = analyse(read_table(content))
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error}") from error
        except ImportFileError as error:
            raise CommandError(str(error)) from error
        counts = analysis.counts
        self.stdout.write(f"{file.name}: {sum(1 for _ in analysis.entries)} addresses")
        for outcome in Outcome.ORDER:
            self.stdout.write(f"  {Outcome.LABELS[outcome]}: {counts[outcome]}")
        for entry in analysis.of(Outcome.BOUNCE):
            ids = ", ".join(f"#{pk}" for pk, _name in entry.customers)
            self.stdout.write(f"  row {entry.number}: hard bounce, correct customer {ids}")
        for number, _text in analysis.unreadable:
            self.stdout.write(f"  row {number}: no email address")
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
            return
        with transaction.atomic():
            # Applied here and now: no preview for the worker to make.
            upload = unsubscribes_upload(
                file_name=file.name, content=content, by=by, check_rows=False
            )
            try:
                upload, done = unsubscribes_apply(upload=upload, by=by)
            except (UnsubscribeStateError, AccountNoLongerAllowed) as error:
                raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported as #{upload.pk}: email consent withdrawn for "
                f"{done.counts['customers']} customers ({done.counts['complaints']} complaints)."
            )
        )
