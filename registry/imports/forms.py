from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext_lazy as _

from registry.forms import GIVEN_BY_METHODS, ConsentTextChoiceField
from registry.models import Consent, ConsentText, Customer, MarketingChannel

from .analysis import TARGETS, ImportOptions, mapping_problems, options_problems
from .reading import too_large_message


class ImportUploadForm(forms.Form):
    """The file to import."""

    file = forms.FileField(
        label=_("File"),
        widget=forms.ClearableFileInput(
            attrs={
                "accept": ".csv,.txt,.xlsx,text/csv,"
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _(
            "CSV (comma, semicolon or tab; UTF-8 or Windows-1252) or Excel (.xlsx), at most "
            "%(size)s MB and %(rows)s rows. The first row names the columns."
        ) % {
            "size": settings.IMPORT_MAX_BYTES // (1024 * 1024),
            "rows": f"{settings.IMPORT_MAX_ROWS:,}".replace(",", " "),
        }

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_BYTES:
            raise forms.ValidationError(too_large_message())
        return upload


class ImportMappingForm(forms.Form):
    """Which customer field each column of the file is, and what the user states
    for the whole file: how the relationships began and, for consent columns,
    the wording, date and way the consents were given."""

    source = forms.ChoiceField(
        label=_("How the customer relationships began"),
        choices=Customer.Source.choices,
        widget=forms.RadioSelect,
    )
    consent_date = forms.DateField(
        label=_("Date the consents or objections were given"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Needed when a consent or objection column is imported."),
    )
    consent_method = forms.ChoiceField(
        label=_("How they were given"), choices=GIVEN_BY_METHODS, required=False
    )
    email_text = ConsentTextChoiceField(
        label=_("Email consent wording the customers agreed to"),
        queryset=ConsentText.objects.filter(channel=MarketingChannel.EMAIL),
        required=False,
    )
    sms_text = ConsentTextChoiceField(
        label=_("SMS consent wording the customers agreed to"),
        queryset=ConsentText.objects.filter(channel=MarketingChannel.SMS),
        required=False,
    )

    def __init__(self, *args, headers, samples, **kwargs):
        super().__init__(*args, **kwargs)
        self.column_names = []
        columns = {}
        for index, header in enumerate(headers):
            name = f"column_{index}"
            self.column_names.append(name)
            values = samples[index] if index < len(samples) else []
            example = ", ".join(value for value in values if value)
            columns[name] = forms.ChoiceField(
                label=header,
                required=False,
                choices=[("", _("(not imported)")), *TARGETS],
                # A help text is rendered as HTML (crispy forms and Django's
                # own templates mark it safe); these are cells of the
                # uploaded file, so the whole text is escaped here.
                help_text=escape(_("For example: %(values)s") % {"values": example})
                if example
                else "",
            )
        # The columns first, in the order of the file.
        self.fields = {**columns, **self.fields}

    def column_fields(self):
        return [self[name] for name in self.column_names]

    def option_fields(self):
        return [self[name] for name in self.fields if name not in self.column_names]

    def clean_consent_date(self):
        day = self.cleaned_data["consent_date"]
        if day and day > timezone.localdate():
            raise forms.ValidationError(_("The date cannot be in the future."))
        return day

    def clean(self):
        cleaned = super().clean()
        mapping = [cleaned.get(name, "") for name in self.column_names]
        for problem in mapping_problems(mapping):
            self.add_error(None, problem)
        options = ImportOptions(
            source=cleaned.get("source") or Customer.Source.INFORMATION_REQUEST,
            consent_date=cleaned.get("consent_date"),
            consent_method=cleaned.get("consent_method") or Consent.Method.WEB_FORM,
            email_text=cleaned.get("email_text"),
            sms_text=cleaned.get("sms_text"),
        )
        for name, problem in options_problems(mapping, options).items():
            if name not in self.errors:
                self.add_error(name, problem)
        cleaned["mapping"], cleaned["options"] = mapping, options
        return cleaned


class UnsubscribeUploadForm(ImportUploadForm):
    """The newsletter service's export of unsubscribed, cleaned or complained
    addresses (CSV or XLSX), or a plain list of addresses."""
