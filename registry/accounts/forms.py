from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.utils.translation import gettext_lazy as _

from .reauth import password_confirm


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
    """Django's form, with the old password checked as a login would be."""

    def __init__(self, *args, request, **kwargs):
        super().__init__(request.user, *args, **kwargs)
        self.request = request

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
