"""Password rules beyond Django's own (see AUTH_PASSWORD_VALIDATORS).

Django's validators refuse passwords that are short, common, all digits or
like the user's names. These refuse what a guesser tries next: repeats
(`aaaaaaaaaaaa`, `office2office2`), runs in the alphabet or along the keyboard
(`abcd`, `1234`, `qwer`), the names of the product and the company
(`Balansia2026!`, also as `B4lans1a`), and the user name inside the password.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

#: Letters people write as digits or signs ("B4lans1a").
LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)

#: Runs a guesser tries: the alphabet, the digits, and the rows of a Finnish keyboard.
SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyzåäö",
    "01234567890",
    "1234567890+",
    "qwertyuiopå",
    "asdfghjklöä",
    "zxcvbnm,.-",
)

#: The part of a long password checked for a repeated chunk: enough to find
#: one, and the check stays quick on a password of any length.
REPEAT_CHECK_CHARS = 128


def _variants(password):
    """The password as a guesser's word list would spell it: lower case, with
    digits read as letters, and also without what is not a letter."""
    lowered = password.casefold()
    readable = lowered.translate(LEET)
    return {lowered, readable, "".join(c for c in readable if c.isalpha())}


def _repeated_chunk(password):
    """True when one part repeated back to back (`office2office2`, `ababab`)
    makes up at least half of the password."""
    text = password[:REPEAT_CHECK_CHARS].casefold()
    for size in range(2, len(text) // 2 + 1):
        for start in range(len(text) - 2 * size + 1):
            chunk = text[start : start + size]
            end = start + size
            while text[end : end + size] == chunk:
                end += size
            if end - start > size and 2 * (end - start) >= len(text):
                return True
    return False


class RepeatedCharactersValidator:
    """No character more than `max_run` times in a row, at least `min_distinct`
    different characters, and no part repeated to fill half the password."""

    def __init__(self, max_run=3, min_distinct=5):
        self.max_run = max_run
        self.min_distinct = min_distinct

    def validate(self, password, user=None):
        if re.search(rf"(.)\1{{{self.max_run},}}", password):
            raise ValidationError(
                ngettext(
                    "This password repeats a character more than %(max)d time in a row.",
                    "This password repeats a character more than %(max)d times in a row.",
                    self.max_run,
                )
                % {"max": self.max_run},
                code="password_repeated_characters",
            )
        if len(set(password.casefold())) < self.min_distinct:
            raise ValidationError(
                _("This password has fewer than %(min)d different characters.")
                % {"min": self.min_distinct},
                code="password_too_few_characters",
            )
        if _repeated_chunk(password):
            raise ValidationError(
                _("This password repeats a part of itself, like “kissa1kissa1”."),
                code="password_repeated_part",
            )

    def get_help_text(self):
        return _(
            "Your password cannot repeat a character more than %(max)d times in a row or "
            "repeat a part of itself."
        ) % {"max": self.max_run}


class SequenceValidator:
    """No run of more than `max_run` characters in the alphabet, in the digits
    or along a row of the keyboard, forwards or backwards."""

    def __init__(self, max_run=3):
        self.max_run = max_run
        self.runs = [*SEQUENCES, *(sequence[::-1] for sequence in SEQUENCES)]

    def validate(self, password, user=None):
        text = password.casefold()
        size = self.max_run + 1
        for start in range(len(text) - size + 1):
            window = text[start : start + size]
            if any(window in run for run in self.runs):
                raise ValidationError(
                    _(
                        "This password has %(length)d or more characters in a row from the "
                        "alphabet or the keyboard, like “abcd”, “4321” or “qwer”."
                    )
                    % {"length": size},
                    code="password_sequence",
                )

    def get_help_text(self):
        return _(
            "Your password cannot have %(length)d or more characters in a row from the "
            "alphabet or the keyboard (like abcd, 4321, qwer)."
        ) % {"length": self.max_run + 1}


class ForbiddenWordsValidator:
    """Not the name of the product or of the company (the controller in the
    settings), in any case, also with digits for letters (`B4lans1a`)."""

    def __init__(self, words=("balansia", "asiakasrekisteri")):
        self.words = tuple(word.casefold() for word in words)

    def forbidden_words(self):
        company = re.findall(r"\w{4,}", settings.REGISTER_CONTROLLER["name"].casefold())
        return sorted({*self.words, *company}, key=len, reverse=True)

    def validate(self, password, user=None):
        variants = _variants(password)
        for word in self.forbidden_words():
            if any(word in variant for variant in variants):
                raise ValidationError(
                    _(
                        "This password contains the name of the product or the company "
                        "(“%(word)s”), which a guesser tries first."
                    )
                    % {"word": word},
                    code="password_forbidden_word",
                )

    def get_help_text(self):
        return _("Your password cannot contain the name of the register or of the company.")


class UserNameInPasswordValidator:
    """Not the user name inside the password (Django's similarity check
    compares the whole password, so `Esa-Mattila-kissa-7` with the user name
    `esa` passes it)."""

    def __init__(self, min_length=3):
        self.min_length = min_length

    def validate(self, password, user=None):
        username = (user.get_username() if user is not None else "") or ""
        username = username.casefold()
        if len(username) < self.min_length:
            return
        if any(username in variant for variant in _variants(password)):
            raise ValidationError(
                _("This password contains your user name."), code="password_contains_username"
            )

    def get_help_text(self):
        return _("Your password cannot contain your user name.")
