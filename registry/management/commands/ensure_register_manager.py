import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.db import transaction

from registry.accounts.services import account_require_password_change
from registry.accounts.usernames import is_generic_username
from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.roles import REGISTER_MANAGER


def one_time_password(user, attempts=100):
    """A random password that the validators accept: now and then a random one
    holds a run like `abcd` or a name, which they refuse."""
    for _attempt in range(attempts):
        password = secrets.token_urlsafe(15)
        try:
            validate_password(password, user)
        except ValidationError:
            continue
        return password
    raise ValidationError("No random password passed the password validators.")


def default_url():
    origins = settings.CSRF_TRUSTED_ORIGINS
    return f"{origins[0].rstrip('/')}/" if origins else "http://127.0.0.1:8000/"


class Command(BaseCommand):
    help = (
        "Create the first register manager if the register has no user yet, and print "
        "its one-time password. Does nothing when any account exists."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--username",
            default=settings.INITIAL_ADMIN_USERNAME,
            help="User name of the new account (default: BALANSIA_ADMIN_USERNAME or admin).",
        )
        parser.add_argument(
            "--url",
            default="",
            help="The address to log in at, for the message "
            "(default: the first CSRF_TRUSTED_ORIGINS, else http://127.0.0.1:8000/).",
        )

    def handle(self, *args, username, url, **options):
        User = get_user_model()
        if User.objects.exists():
            self.stdout.write("The register already has accounts; no account was created.")
            return
        with transaction.atomic():
            user = User(username=username, is_staff=True)
            password = one_time_password(user)
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=REGISTER_MANAGER))
            account_require_password_change(user=user)
            audit_event_create(
                action=AuditEvent.Action.ACCOUNT_CREATED,
                target=user,
                detail={"by": "ensure_register_manager", "role": REGISTER_MANAGER},
            )
        # Printed once and stored nowhere: the user must change it at first login.
        choose = (
            "a new password and your own user name"
            if is_generic_username(username)
            else "a new password"
        )
        self.stdout.write(
            self.style.SUCCESS(
                "\nCreated the first register manager.\n"
                f"  user name: {username}\n"
                f"  one-time password: {password}\n"
                f"Log in at {url or default_url()} and choose {choose}. "
                "This password is not shown again.\n"
            )
        )
