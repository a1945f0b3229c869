from django.conf import settings
from django.core.management.base import BaseCommand

from registry.management.output import counted
from registry.rights.requesters import requesters_cutoff, requesters_due
from registry.rights.retention import retention_apply
from registry.rights.selectors import retention_candidates, retention_cutoff


class Command(BaseCommand):
    help = (
        "Erase customers inactive for RETENTION_MONTHS (no change, consent event or "
        "enrolment), except those with an open request, a coming course or "
        "restricted processing; and forget the name and contact of the requester of "
        "each request without a customer closed as long ago. "
        "Use --dry-run to list them first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List, erase nothing.")

    def handle(self, *args, dry_run, **options):
        cutoff = retention_cutoff()
        candidates = list(retention_candidates(cutoff))
        self.stdout.write(
            f"Retention {settings.RETENTION_MONTHS} months: inactive since before "
            f"{cutoff:%Y-%m-%d}: {counted(len(candidates), 'customer')}."
        )
        if dry_run:
            # Names only for the person at the terminal who reviews the list.
            for customer in candidates:
                self.stdout.write(
                    f"  #{customer.pk} {customer.full_name}: last activity "
                    f"{customer.last_activity_at:%Y-%m-%d}"
                )
            self._requesters(requesters_due().count(), "would be")
            self.stdout.write("Dry run: nothing was erased.")
            return
        # Each one is asked again, locked, when erased: who became active,
        # enrolled or restricted since the list was made is skipped.
        erased, references, skipped, requesters = retention_apply(
            customers=candidates, cutoff=cutoff
        )
        # A real run's output goes to cron's mail and the system log, which
        # nothing erases: the numbers of those erased, never their names.
        for customer in erased:
            self.stdout.write(f"  #{customer.pk}")
        self.stdout.write(self.style.SUCCESS(f"Erased {counted(len(references), 'customer')}."))
        if skipped:
            self.stdout.write(
                f"Skipped {counted(skipped, 'customer')} no longer due (active, enrolled, "
                "asking or restricted since they were listed)."
            )
        self._requesters(requesters, "were")

    def _requesters(self, count, verb):
        # Counted, never named: the requesters are not in the register.
        self.stdout.write(
            f"Requests without a customer closed before {requesters_cutoff():%Y-%m-%d}: "
            f"{counted(count, 'request')}; their requesters' names and contacts {verb} removed."
        )
