"""The marketing lists' own records: who was on which list and why, and the
suppression list that outlives an erasure. Models of the app "registry"."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from registry.models import Consent, Customer, MarketingChannel


class SuppressedContact(models.Model):
    """One line of the suppression list: the keyed hash (HMAC-SHA256 with
    SUPPRESSION_KEY) of the normalised email address or phone number of an
    erased customer whose latest marketing state was an objection or a
    withdrawal, and when it was kept. Nothing else: not the address, not the
    person (GDPR art. 21: the objection is respected after the erasure, with
    minimal data). See registry.suppression."""

    digest = models.CharField(max_length=64, unique=True, editable=False)
    suppressed_at = models.DateTimeField(_("suppressed"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppression list")

    def __str__(self):
        return f"{self.digest[:12]}… {self.suppressed_at:%Y-%m-%d}"


class MarketingExport(models.Model):
    """One marketing list that left the register: when, by whom, which channel,
    for what purpose, how many rows. Its rows say who was on it and why."""

    exported_at = models.DateTimeField(_("exported"), default=timezone.now, editable=False)
    exported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("exported by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    channel = models.CharField(_("channel"), max_length=20, choices=MarketingChannel)
    purpose = models.CharField(_("purpose"), max_length=200)
    row_count = models.PositiveIntegerField(_("rows"), default=0)

    class Meta:
        verbose_name = _("marketing export")
        verbose_name_plural = _("marketing exports")
        ordering = ["-exported_at", "-id"]

    def __str__(self):
        return f"{self.get_channel_display()} {self.exported_at:%Y-%m-%d}"


class MarketingExportRow(models.Model):
    """A customer on a marketing export, and the ledger event that allowed it
    (the latest consent given of email or SMS; for post and phone, the lifting
    of an objection if there was one, else none: they are opt-out). Compact:
    the recipients answer of the access report (GDPR art. 15(1)(c)). Removed
    by the erasure of the customer."""

    export = models.ForeignKey(MarketingExport, on_delete=models.CASCADE, related_name="rows")
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="marketing_export_rows"
    )
    consent = models.ForeignKey(
        Consent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("marketing export row")
        verbose_name_plural = _("marketing export rows")

    def __str__(self):
        return f"{self.export_id} {self.customer_id}"
