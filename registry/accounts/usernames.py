"""Personal user names (the privacy notice: every user of the register has a
personal user name and password). A name like "admin" or "ylläpito" is shared
by whoever knows its password, so the audit trail could not say who did what:
such names are refused for new accounts and for renames in admin, and the
first register manager, created as "admin" by `make run`, chooses their own
name together with their own password at the first login. The list holds the
names systems give their accounts; a role's name ("toimisto") is not in it,
and making accounts for persons stays the register manager's judgement."""

import re
import unicodedata

from django.contrib.auth import get_user_model
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
        "demo",
        "balansia",
        "vivabalansia",
        "sysadmin",
        "system",
        "support",
        "operator",
        "info",
        "office",
        "webmaster",
        "postmaster",
    }
)

#: Digits written for letters ("adm1n", "r00t").
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "\u0131": "i"})


def _letters(name, *, leet):
    """The name's letters without accents, in lower case; with `leet`, digits
    read as the letters they stand for ("Ádm1n" -> "admin"), else left out
    ("yllapito_1" -> "yllapito")."""
    folded = (name or "").casefold()
    plain = unicodedata.normalize("NFKD", folded.translate(_LEET) if leet else folded)
    return re.sub(r"[\W\d_]+", "", "".join(c for c in plain if not unicodedata.combining(c)))


def is_generic_username(name):
    letters = _letters(name, leet=False)
    return not letters or bool({letters, _letters(name, leet=True)} & GENERIC_USERNAMES)


#: A new personal name is written in the Latin letters of Finnish and Swedish
#: (and digits, ".", "-", "_", "@", "+"): a Cyrillic a in place of the Latin
#: one would look like another user's name in the audit trail.
LATIN_USERNAME = re.compile(r"[A-Za-zÅÄÖåäöÉéÜü0-9@.+_-]+")


def validate_latin_username(name):
    if not LATIN_USERNAME.fullmatch(name or ""):
        raise ValidationError(
            _(
                "Use the letters a to z, å, ä, ö, digits and . - _ only, so that "
                "the name cannot be mistaken for another."
            ),
            code="not_latin",
        )


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


def validate_username_free(name, *, account=None):
    """A name that another account holds, in any letter case, is taken: the
    audit trail would name two people alike ("Aino.Ahola" and "aino.ahola").
    Compared in Python, as SQLite's iexact folds only ASCII ("ÄIJÄ" and
    "äijä"). `account`: the one being renamed (its own name in another case
    is free). For the first login's rename and admin's new and renamed
    accounts (the tenth probe: admin's rename did not ask)."""
    others = get_user_model().objects.all()
    if account is not None and account.pk is not None:
        others = others.exclude(pk=account.pk)
    folded = name.casefold()
    if any(
        other.casefold() == folded
        for other in others.values_list("username", flat=True).iterator()
    ):
        raise ValidationError(_("A user with that user name already exists."), code="unique")
