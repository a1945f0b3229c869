from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, UsernameField
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils.translation import gettext_lazy as _

from .reauth import password_confirm
from .usernames import (
    is_generic_username,
    validate_latin_username,
    validate_personal_username,
    validate_username_free,
)


class LoginForm(AuthenticationForm):
    # One answer for a wrong password, an unknown user name and a locked
    # account, so that the answer tells nobody which accounts exist.
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "The user name or the password is not correct, or the account is locked "
            "after many failed attempts. Both fields are case-sensitive. If you cannot "
            "log in, ask the register manager."
        ),
    }


class OwnPasswordChangeForm(PasswordChangeForm):
    """Django's form, with the old password checked as a login would be. A user
    whose name is not personal ("admin": the first register manager as
    `make run` creates it) chooses their own name here too (usernames)."""

    def __init__(self, *args, request, **kwargs):
        super().__init__(request.user, *args, **kwargs)
        self.request = request
        self.renamed_from = None
        if is_generic_username(self.user.get_username()):
            # UsernameField: NFKC, as the login form reads what is typed
            # (full-width letters are the plain ones): else the account could not log in.
            self.fields["username"] = UsernameField(
                label=_("Your own user name"),
                max_length=150,
                help_text=_(
                    "“%(name)s” is not a personal user name: choose the name you "
                    "will log in with from now on, e.g. firstname.lastname."
                )
                % {"name": self.user.get_username()},
                validators=[
                    UnicodeUsernameValidator(),
                    validate_latin_username,
                    validate_personal_username,
                ],
                widget=forms.TextInput(attrs={"autocomplete": "username"}),
            )
            self.order_fields(["username", "old_password"])

    def clean_username(self):
        username = self.cleaned_data["username"]
        validate_username_free(username, account=self.user)
        return username

    def save(self, commit=True):
        if "username" in self.cleaned_data:
            self.renamed_from = self.user.get_username()
            self.user.username = self.cleaned_data["username"]
        return super().save(commit)

    def clean_old_password(self):
        password = self.cleaned_data["old_password"]
        password_confirm(self.request, password)
        return password


class TwoFactorCodeForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=16,
        help_text=_("The six digits of your authenticator app, or one of your backup codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self):
        # Backup codes are stored in lower case; people copy them as they like.
        return "".join(self.cleaned_data["token"].split()).lower()


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_password(self):
        password = self.cleaned_data["password"]
        password_confirm(self.request, password)
        return password
