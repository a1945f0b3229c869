import datetime

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from registry.query_forms import DayField, ObjectIdField, QueryForm

from .models import AuditEvent


class AuditFilterForm(QueryForm):
    """Filters of the audit trail (GET)."""

    user = forms.ModelChoiceField(
        label=_("User"), required=False, queryset=None, empty_label=_("Everybody")
    )
    action = forms.ChoiceField(label=_("Action"), required=False)
    since = DayField(label=_("From"), required=False)
    until = DayField(label=pgettext_lazy("date range", "To"), required=False)
    customer = ObjectIdField(label=_("Customer number"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.order_by("username")
        self.fields["action"].choices = [("", _("All")), *AuditEvent.Action.choices]

    def filters(self):
        """The filters for registry.services.audit_trail_events; a filter
        whose value is not valid is left out (its error shows beside it)."""
        data = self.values()

        def start_of(day):
            return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))

        return {
            "user": data["user"],
            "action": data["action"],
            "since": start_of(data["since"]) if data["since"] else None,
            "until": start_of(data["until"] + datetime.timedelta(days=1))
            if data["until"]
            else None,
            "customer_id": data["customer"],
        }
