from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext_lazy as _

from registry.accounts.reauth import password_confirm
from registry.forms import VersionedFormMixin
from registry.once import OnceFormMixin
from registry.query_forms import ObjectIdsField, QueryForm

from .models import DataSubjectRequest, add_months
from .services import REQUESTER_FIELDS, deadline_before_receipt

#: The notes of a request are in the customer's access report (GDPR art. 15):
#: written for the customer to read, about nobody else (art. 15(4)).
SHOWN_TO_THE_CUSTOMER = _(
    "The customer reads this in their access report: do not name other people."
)


class RectificationCaseForm(QueryForm):
    """`?case=`: the rectification request of the customer that an edit answers."""

    case = forms.ModelChoiceField(queryset=None, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["case"].queryset = DataSubjectRequest.objects.filter(
            customer=customer, kind=DataSubjectRequest.Kind.RECTIFICATION
        )


class DataSubjectRequestForm(OnceFormMixin, forms.ModelForm):
    """Log a request. The page carries a one-time token: sent twice, it logs
    one case (registry.once)."""

    once_name = "request-create"

    class Meta:
        model = DataSubjectRequest
        fields = ("kind", "received_on", "identity_verification")
        widgets = {
            "kind": forms.RadioSelect,
            "received_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }
        help_texts = {
            "identity_verification": format_lazy(
                "{} {}",
                DataSubjectRequest._meta.get_field("identity_verification").help_text,
                SHOWN_TO_THE_CUSTOMER,
            )
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A field without a default gets Django's empty choice: as a radio
        # button it read "---------" and came chosen.
        self.fields["kind"].choices = DataSubjectRequest.Kind.choices

    def clean_received_on(self):
        received = self.cleaned_data["received_on"]
        if received > timezone.localdate():
            raise forms.ValidationError(_("The date cannot be in the future."))
        return received


def _requester_value(value, *, name):
    """Who asked, typed: one line, its spaces made single, and something a
    person can read in it (a letter in a name; a letter or digit in a
    contact). Zero-width or other invisible characters alone were taken as
    a name, and the request named nobody (twelfth probe)."""
    value = " ".join(value.split())
    readable = (lambda ch: ch.isalpha()) if name else (lambda ch: ch.isalpha() or ch.isdigit())
    if not any(readable(ch) for ch in value):
        raise forms.ValidationError(
            _("Write the requester's name.") if name else _("Write how to reach the requester."),
            code="unreadable",
        )
    return value


class RequesterFieldsMixin:
    """The requester's name and contact, where a form has them, must read as
    something (_requester_value)."""

    def clean_requester_name(self):
        return _requester_value(self.cleaned_data["requester_name"], name=True)

    def clean_requester_contact(self):
        return _requester_value(self.cleaned_data["requester_contact"], name=False)


class CaseWithoutCustomerForm(RequesterFieldsMixin, DataSubjectRequestForm):
    """Log a request of someone who is no customer (or no longer): who asked
    and how to reach them, nothing more (data minimisation)."""

    once_name = "request-create-without-customer"

    class Meta(DataSubjectRequestForm.Meta):
        fields = ("requester_name", "requester_contact", *DataSubjectRequestForm.Meta.fields)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("requester_name", "requester_contact"):
            self.fields[name].required = True


class DataSubjectRequestUpdateForm(RequesterFieldsMixin, VersionedFormMixin, forms.ModelForm):
    """Close a case, or extend its deadline with a reason (GDPR art. 12(3):
    by at most two further months), or note how the identity was verified:
    often only after the request was logged (an ID card seen when the
    person comes by), and a case re-created from the journal after a
    restore has only the journal's note there."""

    class Meta:
        model = DataSubjectRequest
        fields = (
            "requester_name",
            "requester_contact",
            "status",
            "identity_verification",
            "outcome",
            "deadline",
            "extension_reason",
        )
        widgets = {"deadline": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}
        help_texts = {
            "identity_verification": DataSubjectRequestForm.Meta.help_texts[
                "identity_verification"
            ],
            "outcome": SHOWN_TO_THE_CUSTOMER,
            "extension_reason": SHOWN_TO_THE_CUSTOMER,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Who asked, for a request of someone who is no customer that may
        # still be answered or linked (a typo corrected, or the requester of
        # a request re-created from the journal, which keeps no names).
        for name in REQUESTER_FIELDS:
            if self.instance.linkable:
                self.fields[name].required = True
                # The value the page opened with goes back with the post: a
                # save refused because the request was closed or linked
                # meanwhile tells a correction from a value left alone.
                self.fields[name].show_hidden_initial = True
            else:
                del self.fields[name]

    #: (label, value) of the requester typed on a refused save and dropped
    #: with the fields, the request being closed or linked meanwhile.
    requester_not_saved = ()

    def after_conflict(self, conflict):
        """The form again after `conflict`; when the request was closed or
        linked meanwhile its requester's fields are gone, and a correction
        typed in them is listed as not saved rather than dropped unseen."""
        form = super().after_conflict(conflict)
        if any(name in form.fields for name in REQUESTER_FIELDS):
            return form

        # This form was made on the request as it is now: without the fields,
        # their values are only in what was posted, beside those the page
        # opened with (show_hidden_initial). A page without them (made
        # before it) is compared with the request now, whose requester a
        # link emptied: then nothing is listed rather than the untouched.
        def posted(key):
            value = self.data.get(key)
            return None if value is None else " ".join(str(value).split())

        not_saved = []
        for name in REQUESTER_FIELDS:
            typed, opened = posted(name), posted(f"initial-{name}")
            now = getattr(conflict.record, name)
            if opened is None:
                opened = now if now else typed
            if typed and typed != opened and typed != now:
                label = capfirst(DataSubjectRequest._meta.get_field(name).verbose_name)
                not_saved.append((label, typed))
        form.requester_not_saved = not_saved
        return form

    def clean(self):
        cleaned = super().clean()
        deadline = cleaned.get("deadline")
        if deadline and deadline != self.initial.get("deadline") and not self.stale:
            received = self.instance.received_on
            if deadline < received:
                # A typo (the year, most often), not an extension: no reason to ask.
                self.add_error("deadline", deadline_before_receipt(received))
                return cleaned
            latest = add_months(received, 3)
            if deadline > latest:
                self.add_error(
                    "deadline",
                    _(
                        "A deadline can be extended to three months from receipt "
                        "at most (%(date)s)."
                    )
                    % {"date": date_format(latest, "SHORT_DATE_FORMAT")},
                )
            if not cleaned.get("extension_reason"):
                self.add_error(
                    "extension_reason",
                    _("Give the reason for the extension; the customer must be told it."),
                )
        return cleaned


#: The word a register manager types to confirm an erasure.
ERASE_CONFIRMATION = _("ERASE")


class ErasureConfirmForm(forms.Form):
    """Password again and a typed confirmation, before an erasure."""

    password = forms.CharField(
        label=_("Your password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirmation = forms.CharField(label=_("Type the word to confirm"), max_length=20)

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.fields["confirmation"].help_text = _("Type %(word)s in capital letters.") % {
            "word": ERASE_CONFIRMATION
        }

    def clean_password(self):
        # Checked as a login is, so that guessing it is throttled and audited.
        password = self.cleaned_data["password"]
        password_confirm(self.request, password)
        return password

    def clean_confirmation(self):
        if self.cleaned_data["confirmation"].strip() != str(ERASE_CONFIRMATION):
            raise forms.ValidationError(
                _("Type %(word)s to confirm.") % {"word": ERASE_CONFIRMATION}
            )
        return self.cleaned_data["confirmation"]


class RestrictionLiftForm(forms.Form):
    """Lifting a restriction: the customer must be told first (GDPR art. 18(3))."""

    customer_told = forms.BooleanField(
        label=_("I have told the customer that the restriction will be lifted."),
        error_messages={
            "required": _("Tell the customer before lifting the restriction (GDPR art. 18(3)).")
        },
    )


class RetentionChoiceForm(forms.Form):
    """The customers left ticked on the retention review, to be erased."""

    customer = ObjectIdsField(required=False)


class ReportFormatForm(QueryForm):
    """The access report's language (the customer's, whatever the user's) and
    format: the page, or a download as PDF (to send) or JSON (machine-readable)."""

    format = forms.ChoiceField(
        required=False, choices=[("", _("Page")), ("pdf", "PDF"), ("json", "JSON")]
    )
    language = forms.ChoiceField(
        label=_("Language of the report"), required=False, choices=settings.LANGUAGES
    )


class AnswerLanguageForm(QueryForm):
    """The language of the answer to a requester (theirs, whatever the user's)."""

    language = forms.ChoiceField(
        label=_("Language of the answer"), required=False, choices=settings.LANGUAGES
    )
