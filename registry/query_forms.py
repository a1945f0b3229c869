"""Typed parameters of pages: every query value and ticked box goes through a
form field with a type, so nothing typed or crafted into an address makes a
page fail. A building block of every concern; it imports nothing of them."""

import datetime
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

#: The largest number a record's id (BigAutoField) can be. A larger number in
#: a query names no record; SQLite cannot even bind it to a query.
MAX_ID = 2**63 - 1


class ObjectIdField(forms.IntegerField):
    """The number of a record, given in a query or a form: a positive integer
    that the database can hold."""

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


class ObjectIdsField(forms.Field):
    """The numbers of the records whose boxes were ticked (the name repeated)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        number = ObjectIdField()
        return sorted({number.clean(item) for item in value})


class QueryForm(forms.Form):
    """The parameters of a GET page, each with a type.

    A value that is not valid is left out, as if it had not been given (the
    page may show the error beside its field): an address typed or crafted by
    hand never makes a page fail. Views read `values()`, and links that keep
    the filters are made with `query_string()`, not from request.GET.
    """

    def values(self):
        """Every field's cleaned value; an invalid or missing one is empty."""
        cleaned = {}
        if self.is_bound:
            self.is_valid()  # cleaned_data then holds the fields that are valid
            cleaned = self.cleaned_data
        return {
            name: cleaned[name] if name in cleaned else field.to_python("")
            for name, field in self.fields.items()
        }

    def query_string(self):
        """The valid values that are not empty, as a query string (page links)."""
        return urlencode(
            {
                name: str(self.fields[name].prepare_value(value))
                for name, value in self.values().items()
                if value not in self.fields[name].empty_values
            }
        )


#: Days a date filter accepts: a day outside them is surely a typo, and one
#: day more than 9999-12-31, or a midnight of year 1 in UTC, does not exist.
FIRST_DAY = datetime.date(1900, 1, 1)


LAST_DAY = datetime.date(9998, 12, 31)


class DayField(forms.DateField):
    """A date of a filter, within FIRST_DAY and LAST_DAY."""

    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

    def __init__(self, **kwargs):
        super().__init__(
            validators=[MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)], **kwargs
        )


def plausible_moment(value):
    """A date or time that the register can keep and show: between FIRST_DAY
    and LAST_DAY. Year 1 would be stored by PostgreSQL as 1 BC in UTC, and
    then no page could read it back."""
    day = value.date() if isinstance(value, datetime.datetime) else value
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(
            _("Give a date between %(first)s and %(last)s.")
            % {"first": FIRST_DAY.year, "last": LAST_DAY.year},
            code="implausible",
        )


class MomentField(forms.DateTimeField):
    """A date and time of a form, within FIRST_DAY and LAST_DAY."""

    default_validators = [plausible_moment]
