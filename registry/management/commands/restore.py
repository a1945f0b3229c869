from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from registry.backups import BackupError, restore_backup
from registry.management.output import counted

#: What a case is called in the restore's output, one and several.
REQUESTS = ("data subject request", "data subject requests")


class Command(BaseCommand):
    help = (
        "Restore a backup into an empty database (--force to overwrite a non-empty one), "
        "then erase again everybody in the erasure journal and record again the "
        "objections and withdrawals of the marketing journal that it lacks, and set again "
        "the journal's restrictions of processing that it lacks, and re-create the "
        "journal's data subject requests that it lacks (or bring them up to date), and "
        "forget again the requesters of requests without a customer closed before the "
        "retention period, and prune the logs again as prune_logs does."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument(
            "--force", action="store_true", help="Overwrite a database that holds data."
        )

    def handle(self, *args, file, force, **options):
        try:
            manifest, erased_again, reapplied, restricted, cases, requesters = restore_backup(
                file, force=force
            )
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Restored the backup of {manifest['created_at']}."))
        self._reapplied(
            erased_again,
            ("customer", "customers"),
            "erased again",
            f"ids {', '.join(map(str, erased_again))}",
            otherwise="Erasure journal: nobody to erase again.",
            journal="erasure",
        )
        consents = sorted({consent.customer_id for consent in reapplied})
        self._reapplied(
            reapplied,
            ("objection or withdrawal", "objections or withdrawals"),
            "recorded again",
            f"customer ids {', '.join(map(str, consents))}",
            otherwise="Marketing journal: nothing to re-apply.",
        )
        self._reapplied(
            restricted,
            ("restriction of processing", "restrictions of processing"),
            "set again",
            f"customer ids {', '.join(str(customer.pk) for customer in restricted)}",
            otherwise="Marketing journal: no restriction of processing to re-apply.",
        )
        created, updated = cases
        self._reapplied(
            created,
            REQUESTS,
            "re-created",
            ", ".join(case.reference for case in created),
            otherwise="Data subject requests: nothing to re-create.",
            then=" The journal keeps no requester, no verification and no outcome: add them "
            "from the original requests.",
        )
        self._reapplied(
            updated, REQUESTS, "brought up to date", ", ".join(case.reference for case in updated)
        )
        if requesters:
            self.stdout.write(
                f"Retention: the requesters of {counted(requesters, 'request')} without a "
                "customer, closed before the retention period, forgotten again."
            )
        # The backup may be older than the last prune_logs run: what that run
        # blanked (search words, addresses, typed names and reasons past
        # AUDIT_KEEP_MONTHS) came back with it, until the next daily run.
        self.stdout.write("Logs pruned again, as prune_logs does:")
        call_command("prune_logs", stdout=self.stdout, stderr=self.stderr)
        # Nothing journals these (README, Backups): the register manager
        # makes again the corrections asked for since the backup's time.
        self.stdout.write(
            f"Not in the backup: corrections of customers' data made since "
            f"{manifest['created_at']}. Make those corrections again (the rectification "
            "requests are among the data subject requests)."
        )

    def _reapplied(
        self, done, names, what, which, *, otherwise=None, then="", journal="marketing"
    ):
        """The line that says what a journal (the marketing journal unless
        `journal` says) gave back of one kind: how many were `done` (by
        `names`, one and several), `what` was done to them and `which` (ids
        or references), then `then`; or, when none was, the line `otherwise`
        (none without it)."""
        if done:
            self.stdout.write(
                f"Re-applied the {journal} journal: {counted(len(done), *names)} {what} "
                f"({which}).{then}"
            )
        elif otherwise:
            self.stdout.write(otherwise)
