from django import forms
from django.utils.translation import gettext_lazy as _

from registry.rights.models import add_months

from .tables import Period, month_start

#: The longest period a report covers, in months.
MAX_MONTHS = 36


class MonthInput(forms.DateInput):
    input_type = "month"

    def __init__(self):
        super().__init__(format="%Y-%m")


class PeriodForm(forms.Form):
    """The period filter of a report: whole months, at most MAX_MONTHS. A bad
    value gets its message beside the field and the default period is shown."""

    since = forms.DateField(
        label=_("From month"), input_formats=["%Y-%m"], widget=MonthInput(), required=False
    )
    until = forms.DateField(
        label=_("To month"), input_formats=["%Y-%m"], widget=MonthInput(), required=False
    )

    def __init__(self, data=None, *, default):
        self.default = default
        # Only the filter's own fields: `csv=` and the like are not its business.
        if data is not None:
            data = {key: data.get(key, "") for key in ("since", "until") if key in data} or None
        super().__init__(data, initial={"since": default.first, "until": default.last})

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if self.errors:
            return data
        since = month_start(since or self.default.first)
        until = month_start(until or self.default.last)
        if not 2000 <= since.year <= 2100 or not 2000 <= until.year <= 2100:
            raise forms.ValidationError(_("Choose months between the years 2000 and 2100."))
        if until < since:
            self.add_error("until", _("The last month cannot be before the first."))
        elif add_months(since, MAX_MONTHS - 1) < until:
            self.add_error(
                "until",
                _("A report covers at most %(months)s months.") % {"months": MAX_MONTHS},
            )
        data["since"], data["until"] = since, until
        return data

    def period(self):
        """The chosen period, or the default one when the form is not valid."""
        if self.is_bound and self.is_valid():
            return Period(first=self.cleaned_data["since"], last=self.cleaned_data["until"])
        return self.default
