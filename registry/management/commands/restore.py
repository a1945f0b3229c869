from django.core.management.base import BaseCommand, CommandError

from registry.backups import BackupError, restore_backup


class Command(BaseCommand):
    help = (
        "Restore a backup into an empty database (--force to overwrite a non-empty one), "
        "then erase again everybody in the erasure journal and record again the "
        "objections and withdrawals of the marketing journal that it lacks, and set again "
        "the journal's restrictions of processing that it lacks, and re-create the "
        "journal's data subject requests that it lacks (or bring them up to date), and "
        "forget again the requesters of requests without a customer closed before the "
        "retention period."
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
        if erased_again:
            self.stdout.write(
                f"Re-applied the erasure journal: {len(erased_again)} customers erased again "
                f"(ids {', '.join(map(str, erased_again))})."
            )
        else:
            self.stdout.write("Erasure journal: nobody to erase again.")
        if reapplied:
            ids = sorted({consent.customer_id for consent in reapplied})
            many = len(reapplied) > 1
            events = "objections or withdrawals" if many else "objection or withdrawal"
            self.stdout.write(
                f"Re-applied the marketing journal: {len(reapplied)} {events} recorded "
                f"again (customer ids {', '.join(map(str, ids))})."
            )
        else:
            self.stdout.write("Marketing journal: nothing to re-apply.")
        if restricted:
            many = len(restricted) > 1
            restrictions = "restrictions" if many else "restriction"
            self.stdout.write(
                f"Re-applied the marketing journal: {len(restricted)} {restrictions} of "
                "processing set again (customer ids "
                f"{', '.join(str(customer.pk) for customer in restricted)})."
            )
        else:
            self.stdout.write("Marketing journal: no restriction of processing to re-apply.")
        created, updated = cases
        if created:
            many = len(created) > 1
            requests = "data subject requests" if many else "data subject request"
            self.stdout.write(
                f"Re-applied the marketing journal: {len(created)} {requests} re-created "
                f"({', '.join(case.reference for case in created)}). The journal keeps no "
                "requester, no verification and no outcome: add them from the original "
                "requests."
            )
        else:
            self.stdout.write("Data subject requests: nothing to re-create.")
        if updated:
            many = len(updated) > 1
            requests = "data subject requests" if many else "data subject request"
            self.stdout.write(
                f"Re-applied the marketing journal: {len(updated)} {requests} brought up to "
                f"date ({', '.join(case.reference for case in updated)})."
            )
        if requesters:
            many = requesters > 1
            self.stdout.write(
                f"Retention: the requesters of {requesters} "
                f"{'requests' if many else 'request'} without a customer, closed before the "
                "retention period, forgotten again."
            )
        # Nothing journals these (README, Backups): the register manager
        # makes again the corrections asked for since the backup's time.
        self.stdout.write(
            f"Not in the backup: corrections of customers' data made since "
            f"{manifest['created_at']}. Make those corrections again (the rectification "
            "requests are among the data subject requests)."
        )
