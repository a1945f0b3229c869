"""Personal user names (the privacy notice: every user of the register has a
personal user name and password). A name like "admin" or "ylläpito" is shared
by whoever knows its password, so the audit trail could not say who did what:
such names are refused for new accounts and for renames in admin, and the
first register manager, created as "admin" by `make run`, chooses their own
name together with their own password at the first login. The list holds the
names systems give their accounts; a role's name ("toimisto") is not in it,
and making accounts for persons stays the register manager's judgement."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

#: Names of a machine's or a system's account, not of a person (compared in
#: lower case without digits, dots, dashes or underscores: "Admin2",
#: "yllapito_1").
GENERIC_USERNAMES = frozenset(
    {
        "admin",
        "administrator",
        "root",
        "superuser",
        "user",
        "test",
        "guest",
        "yllapito",
        "yllapitaja",
        "paakayttaja",
        "kayttaja",
        "rekisterinpitaja",
        "testi",
        "balansia",
        "vivabalansia",
    }
)

_UNACCENTED = str.maketrans("äöå", "aoa")


def is_generic_username(name):
    letters = re.sub(r"[\W\d_]+", "", (name or "").casefold().translate(_UNACCENTED))
    return letters in GENERIC_USERNAMES or not letters


def validate_personal_username(name):
    if is_generic_username(name):
        raise ValidationError(
            _(
                "“%(name)s” is not a personal user name. Each user logs in with "
                "a name of their own, e.g. firstname.lastname, so that the audit "
                "trail tells who did what."
            ),
            code="generic_username",
            params={"name": name},
        )
