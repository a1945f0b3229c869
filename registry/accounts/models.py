from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AccountSecurity(models.Model):
    """Security state of a user account that Django's User does not hold."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="security",
    )
    password_change_required = models.BooleanField(
        _("must change password at next login"),
        default=False,
        help_text=_("Set when someone else chose the password, e.g. a new account."),
    )
    login_locked_at = models.DateTimeField(
        _("password logins locked since"),
        null=True,
        blank=True,
        help_text=_("Set after many failed logins from anywhere; a register manager lifts it."),
    )
    lock_lifted_at = models.DateTimeField(
        _("lock last lifted"),
        null=True,
        blank=True,
        help_text=_("Failed logins before this no longer count towards a lock."),
    )
    confidentiality_signed_on = models.DateField(
        _("confidentiality undertaking signed on"),
        null=True,
        blank=True,
        help_text=_(
            "The day the person signed the confidentiality undertaking, before the account "
            "was made. Keep the signed copy."
        ),
    )

    class Meta:
        verbose_name = _("account security")
        verbose_name_plural = _("account security")

    def __str__(self):
        return self.user.get_username()
