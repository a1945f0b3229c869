from django.conf import settings
from django.core.management.base import BaseCommand

from registry.accounts.selectors import dormant_accounts
from registry.accounts.services import account_deactivate
from registry.management.output import counted


class Command(BaseCommand):
    help = "Deactivate accounts with no login for --days days (audited). --dry-run lists them."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.DORMANT_DAYS)
        parser.add_argument("--dry-run", action="store_true", help="List, change nothing.")

    def handle(self, *args, days, dry_run, **options):
        accounts = list(dormant_accounts(days))
        self.stdout.write(f"Accounts with no login for {days} days: {len(accounts)}")
        for user in accounts:
            last = f"{user.last_login:%Y-%m-%d}" if user.last_login else "never"
            self.stdout.write(f"  {user.get_username()}: last login {last}")
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
            return
        count = sum(
            account_deactivate(user=user, by=None, reason=f"no login for {days} days")
            for user in accounts
        )
        self.stdout.write(self.style.SUCCESS(f"Deactivated {counted(count, 'account')}."))
