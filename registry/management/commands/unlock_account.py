from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from registry.accounts.lock import account_login_unlock, locked_accounts


class Command(BaseCommand):
    help = (
        "Lift the lock of an account's password logins (audited), for when no register "
        "manager can log in to do it in admin. Without a user name: list locked accounts."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?")

    def handle(self, *args, username, **options):
        if username is None:
            for account in locked_accounts():
                when = account["security__login_locked_at"]
                self.stdout.write(f"{account['username']}: locked since {when:%Y-%m-%d %H:%M}")
            return
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No account {username!r}.")
        if account_login_unlock(user=user, by=None):
            self.stdout.write(self.style.SUCCESS(f"Lifted the lock of {username}."))
        else:
            self.stdout.write(f"{username} was not locked.")
