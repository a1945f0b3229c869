import re
import unicodedata

import phonenumbers
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Field, Layout, Row
from django import forms
from django.core import signing
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.formfields import PhoneNumberField
from phonenumber_field.phonenumber import PhoneNumber

from .changes import plain_value
from .concurrency import shown
from .models import Consent, ConsentText, Customer, MarketingChannel
from .once import SUBMISSION_SECONDS, OnceFormMixin
from .phones import format_phone
from .query_forms import MomentField, ObjectIdField, QueryForm
from .services import CUSTOMER_FIELDS

# Letters of any alphabet, joined by single spaces, hyphens, apostrophes or
# periods: Äijälä, Mäki-Petäjä, O'Neill, J. R.
NAME_PATTERN = re.compile(r"^[^\W\d_]+\.?(?:[ '\u2019-]+[^\W\d_]+\.?)*$")


class PhoneInput(forms.TextInput):
    """A tel input that shows a stored number as people write it (`040 1234567`)
    and gives back exactly what was typed when the input was invalid."""

    input_type = "tel"

    def format_value(self, value):
        if value and not isinstance(value, str):
            return format_phone(value)
        return super().format_value(value)


class RememberingPhoneNumber(PhoneNumber):
    """A phone number that checks its validity once. Django's validation turns
    a number into text about a dozen times, and each time the library checks
    the number again: a third of the time of an import of 50,000 rows."""

    _valid = None

    @classmethod
    def checked(cls, *, country_code, national_number, italian_leading_zero, leading_zeros):
        """A number validated before (kept by an import's preview, see
        registry.imports.analysis.checked_rows), rebuilt without parsing it."""
        number = cls(
            country_code=country_code,
            national_number=national_number,
            italian_leading_zero=italian_leading_zero,
            number_of_leading_zeros=leading_zeros,
        )
        number._valid = True
        return number

    def is_valid(self):
        if self._valid is None:
            self._valid = super().is_valid()
        return self._valid


class CustomerPhoneField(PhoneNumberField):
    """django-phonenumber-field's form field, giving a RememberingPhoneNumber."""

    def to_python(self, value):
        value = forms.CharField.to_python(self, value)
        if value in self.empty_values:
            return self.empty_value
        try:
            return RememberingPhoneNumber.from_string(value, region=self.region)
        except phonenumbers.NumberParseException:
            return RememberingPhoneNumber(raw_input=value)


def clean_name(value):
    value = " ".join(value.split())
    if not NAME_PATTERN.match(value):
        raise forms.ValidationError(
            _("Use letters, spaces, hyphens and apostrophes only."), code="invalid_name"
        )
    return value


class CustomerFieldsForm(forms.ModelForm):
    """The validation and normalisation of a customer's fields: the customer
    form and every row of an import go through it."""

    phone = CustomerPhoneField(
        label=_("Phone"),
        required=False,
        widget=PhoneInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
        error_messages={
            "invalid": _("Enter a valid phone number, e.g. 040 123 4567 or +358 40 123 4567.")
        },
    )

    class Meta:
        model = Customer
        fields = CUSTOMER_FIELDS
        widgets = {"source": forms.RadioSelect}

    def clean_first_name(self):
        return clean_name(self.cleaned_data["first_name"])

    def clean_last_name(self):
        return clean_name(self.cleaned_data["last_name"])

    def clean_postal_code(self):
        return self.cleaned_data["postal_code"].strip().upper()

    def clean_email(self):
        # Django's validator takes control characters inside a quoted local
        # part ("a\x0bb"@example.fi); they would reach the mail server.
        email = self.cleaned_data["email"]
        if any(unicodedata.category(ch) == "Cc" for ch in email):
            raise ValidationError(_("An email address cannot hold control characters."))
        return email

    def clean(self):
        cleaned = super().clean()
        postal_code = cleaned.get("postal_code")
        if (
            postal_code
            and str(self.country_of(cleaned)) == "FI"
            and not re.fullmatch(r"\d{5}", postal_code)
        ):
            self.add_error("postal_code", _("A Finnish postal code has five digits, e.g. 80100."))
        return cleaned

    def country_of(self, cleaned):
        return cleaned.get("country")


class VersionField(forms.CharField):
    """The version of the record the page was opened on, signed by the server
    together with the record (model and id) it belongs to. It cleans to the
    version, or to None for none, a made-up or changed one, or one of another
    record; `read` also tells whether the page was opened within the day.

    Signed because the version decides what a refused save tells: every
    change made since it, with the old and new values, from the audit trail
    (registry.concurrency). A plain number typed by hand (`version=1`)
    showed staff a record's whole history, which only the register manager
    sees (the seventh probe). That history is told only to a page opened
    within the day (SUBMISSION_SECONDS): a page kept open for longer still
    saves while its record is at the version it was opened on; when the
    record has changed since, the form comes back with the user's changes on
    top of the record as it is now and without the history
    (VersionedFormMixin.after_conflict)."""

    widget = forms.HiddenInput

    def __init__(self, *, record, **kwargs):
        super().__init__(required=False, **kwargs)
        self.record = record

    @staticmethod
    def signer():
        return signing.TimestampSigner(salt="registry.forms.version")

    @staticmethod
    def _key(record):
        return f"{record._meta.label_lower}.{record.pk}"

    @classmethod
    def token(cls, record):
        """The page's value for `record` at its version now."""
        return cls.signer().sign(f"{cls._key(record)}.{record.version}")

    def read(self, value):
        """`value` as (version, opened within the day) when the server signed
        it for this record, at any age; None for anything else."""
        if not isinstance(value, str) or not value or len(value) > 200:
            return None
        signer = self.signer()
        try:
            text, within_a_day = signer.unsign(value, max_age=SUBMISSION_SECONDS), True
        except signing.SignatureExpired:  # the server's, from more than a day ago
            text, within_a_day = signer.unsign(value), False
        except signing.BadSignature:  # made up or changed
            return None
        key, _dot, version = text.rpartition(".")
        if key != self._key(self.record) or not (version.isascii() and version.isdigit()):
            return None
        return int(version), within_a_day

    def clean(self, value):
        read = self.read(value)
        return None if read is None else read[0]


#: An empty value in a message, as the conflict note shows one.
NO_VALUE = "\u2013"


class VersionedFormMixin:
    """An edit form (ModelForm) that carries the version of its record in a
    hidden field (VersionField: signed), and can be shown again after a
    refused save (see registry.concurrency). A form for a new record has no
    version."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.conflict = None
        if self.instance.pk is not None:
            self.fields["version"] = VersionField(record=self.instance)
            self.initial.setdefault("version", VersionField.token(self.instance))

    def _posted_version(self):
        """(version, opened within the day) of the page posted, or None."""
        field = self.fields["version"]
        return field.read(
            field.widget.value_from_datadict(self.data, self.files, self.add_prefix("version"))
        )

    @property
    def stale(self):
        """Posted from a page of an older version: what looks changed against
        the record as it is now may be someone else's change. Rules about
        changes wait until the save is refused and the form shown again."""
        if not self.is_bound or "version" not in self.fields:
            return False
        posted = self._posted_version()
        return posted is None or posted[0] != self.instance.version

    @property
    def opened_within_a_day(self):
        """Whether a refused save may tell what others changed since the page
        was opened (VersionField: not for a page older than a day)."""
        posted = self._posted_version() if "version" in self.fields else None
        return posted is not None and posted[1]

    def clean(self):
        cleaned = super().clean()
        if "version" in self.fields and cleaned.get("version") is None:
            # A hand-made request, a page of another record, or one whose token
            # the server cannot read (from before versions were signed, or
            # signed with a retired key). Nothing is saved, and no history is
            # told: the page comes back with what was typed, the record's
            # values now where they differ (what anyone who may edit it sees
            # by opening it), and a token of the version now, so that saving
            # again after a look goes through.
            self._show_current_version()
            errors = [
                forms.ValidationError(
                    _(
                        "Nothing was saved: this page does not show which version of the "
                        "record it was opened on. What you entered is kept; check it and "
                        "save again."
                    ),
                    code="no_version",
                )
            ]
            if differences := self._differences_from_record(cleaned):
                errors.append(
                    forms.ValidationError(
                        _("The record as it is now holds: %(values)s."),
                        code="record_now",
                        params={"values": "; ".join(differences)},
                    )
                )
            raise forms.ValidationError(errors)
        return cleaned

    def _show_current_version(self):
        data = self.data.copy()
        data[self.add_prefix("version")] = VersionField.token(self.instance)
        self.data = data

    def _differences_from_record(self, cleaned, record=None):
        """For each field whose posted value is not the record's now, its
        label and the value now: of `record`, or of the form's instance
        (read before the ModelForm writes the posted values into it)."""
        record = self.instance if record is None else record
        differences = []
        for name in self._meta.fields or ():
            if name not in cleaned or name not in self.fields:
                continue
            model_field = record._meta.get_field(name)
            now = model_field.value_from_object(record)
            field = self.fields[name]
            if plain_value(cleaned[name]) == plain_value(now):
                continue
            shown_now = field.widget.format_value(field.prepare_value(now))
            if shown_now == self.data.get(self.add_prefix(name)):
                continue  # the same value at another precision or format
            if model_field.is_relation:
                text = str(getattr(record, name) or "")
            else:
                text = shown(record, name, plain_value(now))
            differences.append(f"{field.label}: {text or NO_VALUE}")
        return differences

    def after_conflict(self, conflict):
        """The form again after `conflict`: the record as it is now with what
        this user changed on top, and the current version. A field that
        someone else changed and this user left as it was shows the new value;
        a field both changed shows this user's (the message shows theirs).
        A page opened more than a day ago is not told what others changed,
        only that the record has changed (VersionField). When not every
        change is told (that page; a record whose changes the trail keeps
        elsewhere, as a session's under its course; a request whose notes an
        erasure blanked), the conflict lists the record's values now where
        the form shows another: saving again without a look would otherwise
        undo them unseen (the eighth probe: an erased name written back)."""
        initial = {}
        for name, value in self.cleaned_data.items():
            before = conflict.raw_changes.get(name)
            if name == "version" or (before is not None and self._left_as_shown(name, before[0])):
                continue
            initial[name] = value
        form = type(self)(instance=conflict.record, initial=initial)
        told = conflict if self.opened_within_a_day else conflict.without_history()
        if not told.edits or not told.complete:
            told.record_now = self._differences_from_record(initial, conflict.record)
        form.conflict = told
        return form

    def _left_as_shown(self, name, before):
        """Whether the user posted field `name` as the form showed `before`
        (the audit trail's text of the value when the form was opened)."""
        if plain_value(self.cleaned_data[name]) == before:
            return True
        # The form may show a value at another precision or in another format
        # (a time without seconds, a phone number as dialled): compare as shown.
        try:
            model_field = self.instance._meta.get_field(name)
            value = None if model_field.is_relation else model_field.to_python(before)
        except (FieldDoesNotExist, ValidationError):
            value = None
        if value is None:
            return False
        field = self.fields[name]
        shown = field.widget.format_value(field.prepare_value(value))
        return shown == self.data.get(self.add_prefix(name))


class CustomerForm(VersionedFormMixin, CustomerFieldsForm):
    """Add or edit a customer. On a new record, possible duplicates must be
    confirmed before saving; `self.duplicates` lists them for the template."""

    confirm_duplicate = forms.BooleanField(
        label=_("This is a different person: save anyway"), required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.duplicates = []
        # Radio buttons need no "---------" choice: one of the three must be
        # picked. A new customer at a course company's desk most often comes
        # through an enrolment or a purchase, so that is chosen to begin with.
        self.fields["source"].choices = Customer.Source.choices
        if self.instance.pk is None:
            self.initial.setdefault("source", Customer.Source.ENROLMENT_OR_PURCHASE)
        self.fields["email"].widget.attrs["autocomplete"] = "off"
        self.fields["postal_code"].widget.attrs["inputmode"] = "numeric"
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.render_hidden_fields = True  # the version
        self.helper.layout = Layout(
            Row(
                Column("first_name", css_class="col-md-6"),
                Column("last_name", css_class="col-md-6"),
            ),
            Row(Column("email", css_class="col-md-6"), Column("phone", css_class="col-md-6")),
            "street_address",
            Row(
                Column("postal_code", css_class="col-md-3"),
                Column("city", css_class="col-md-5"),
                Column("country", css_class="col-md-4"),
            ),
            "source",
        )

    def clean(self):
        cleaned = super().clean()
        if self._identity_changed():
            self.duplicates = self._find_duplicates(cleaned)
            if self.duplicates:
                # The box is shown only when there is something to confirm.
                self.helper.layout.append(Field("confirm_duplicate"))
            if self.duplicates and not cleaned.get("confirm_duplicate"):
                self.add_error(
                    "confirm_duplicate",
                    _(
                        "The register may already hold this person (see above). Open that "
                        "record instead, or tick this box if this is a different person."
                    ),
                )
        return cleaned

    def _identity_changed(self):
        if self.instance.pk is None:
            return True
        if self.stale:
            return False  # checked when the form is saved again on the current version
        return bool(
            {"first_name", "last_name", "email", "phone", "postal_code"} & set(self.changed_data)
        )

    def _find_duplicates(self, cleaned):
        candidates = Customer.objects.possible_duplicates(
            first_name=cleaned.get("first_name", ""),
            last_name=cleaned.get("last_name", ""),
            email=cleaned.get("email", ""),
            phone=cleaned.get("phone") or "",
            postal_code=cleaned.get("postal_code", ""),
        )
        if self.instance.pk:
            candidates = candidates.exclude(pk=self.instance.pk)
        found = list(candidates.order_by("last_name", "first_name")[:10])
        for other in found:
            other.matched = self._matched(other, cleaned)
        return found

    @staticmethod
    def _matched(other, cleaned):
        """What makes `other` look like the same person, in words."""
        reasons = []
        email, phone = cleaned.get("email", ""), cleaned.get("phone")
        if email and other.email.casefold() == email.casefold():
            reasons.append(_("same email %(email)s") % {"email": other.email})
        if phone and other.phone == phone:
            reasons.append(_("same phone %(phone)s") % {"phone": format_phone(other.phone)})
        if (
            other.first_name.casefold() == cleaned.get("first_name", "").casefold()
            and other.last_name.casefold() == cleaned.get("last_name", "").casefold()
            and other.postal_code == cleaned.get("postal_code")
        ):
            reasons.append(_("same name and postal code %(code)s") % {"code": other.postal_code})
        return reasons


class TypedContactForm(QueryForm):
    """`?email=&phone=` of a customer's edit form: what was typed on the new
    customer form, carried by its duplicate warning's edit link (journey 2:
    the same person with an old email). Only starting values of the form,
    read on GET; only a valid value is taken; saving is the user's POST,
    checked as any. (Not logged: the access log has no query strings.)"""

    email = forms.EmailField(required=False, max_length=254)
    phone = CustomerPhoneField(required=False)

    @classmethod
    def of(cls, form):
        """The query of what was typed on the customer `form` (valid values only)."""
        cleaned = getattr(form, "cleaned_data", {})
        return cls({name: cleaned.get(name) or "" for name in cls.base_fields}).query_string()


class CustomerCreateForm(OnceFormMixin, CustomerForm):
    """A new customer: the page carries a one-time token, so the page sent
    twice adds one customer (registry.once)."""

    once_name = "customer-create"

    def typed_contact_query(self):
        """For the duplicates' edit links: the email and phone typed here."""
        return TypedContactForm.of(self)


class CustomerFilterForm(QueryForm):
    """The search box and filters of the customer list (GET)."""

    SORTS = [("name", _("Name")), ("added", _("Newest first"))]

    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    city = forms.CharField(label=_("City"), required=False, max_length=100)
    source = forms.ChoiceField(
        label=_("How the relationship began"),
        required=False,
        choices=[("", _("All")), *Customer.Source.choices],
    )
    contactable = forms.ChoiceField(
        label=_("May be contacted by"),
        required=False,
        choices=[("", _("Any")), *MarketingChannel.choices],
    )
    sort = forms.ChoiceField(label=_("Sort"), required=False, choices=SORTS)
    # From an import's page: the customers that import added.
    imported = ObjectIdField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update(
            {
                "placeholder": _("Name, email or phone"),
                "type": "search",
                "class": "form-control",
            }
        )


class CustomerMergeForm(forms.Form):
    """For each field where the two records differ: which value to keep."""

    def __init__(self, *args, keep, other, **kwargs):
        super().__init__(*args, **kwargs)
        self.keep, self.other = keep, other
        # The versions of the two records the user chose from, signed as on
        # the edit forms (VersionField): if either has changed since, the
        # choices were made on other values (the merge service refuses; the
        # page shows the records again, with what changed if it was opened
        # within the day).
        self.posted = {}
        for name, record in (("keep_version", keep), ("other_version", other)):
            field = VersionField(record=record, initial=VersionField.token(record))
            self.fields[name] = field
            if self.is_bound:
                posted = field.widget.value_from_datadict(self.data, self.files, name)
                self.posted[name] = field.read(posted)
        self.stale = self.is_bound and any(
            posted is None or posted[0] != record.version
            for posted, record in zip(self.posted.values(), (keep, other), strict=True)
        )
        self.differing = []
        for name in CUSTOMER_FIELDS:
            mine, theirs = getattr(keep, name), getattr(other, name)
            if plain_value(mine) == plain_value(theirs):
                continue
            model_field = Customer._meta.get_field(name)
            self.differing.append(name)
            self.fields[name] = forms.ChoiceField(
                label=model_field.verbose_name.capitalize(),
                choices=[("keep", self._shown(keep, name)), ("other", self._shown(other, name))],
                initial="keep",
                widget=forms.RadioSelect,
                # A field that differs only since the choices were made has none.
                required=not self.stale,
            )

    @property
    def opened_within_a_day(self):
        """Whether a refused merge may tell what changed since the page was
        opened (as VersionedFormMixin)."""
        return bool(self.posted) and all(posted and posted[1] for posted in self.posted.values())

    @staticmethod
    def _shown(customer, name):
        if name == "country":
            value = customer.country.name  # in the interface's language
        else:
            display = getattr(customer, f"get_{name}_display", None)
            value = display() if display else getattr(customer, name)
        return str(value) if plain_value(value) else _("(empty)")

    def clean(self):
        cleaned = super().clean()
        if self.stale:
            if cleaned.get("keep_version") is None or cleaned.get("other_version") is None:
                # Made by hand, or a page the server cannot read: no history is
                # told. The choices on the page are the records as they are
                # now; with tokens of their versions now, merging again after
                # a look goes through.
                data = self.data.copy()
                data["keep_version"] = VersionField.token(self.keep)
                data["other_version"] = VersionField.token(self.other)
                self.data = data
                raise forms.ValidationError(
                    _(
                        "Nothing was merged: this page does not show which versions of the "
                        "records it was opened on. Check the choices below, which show the "
                        "records as they are now, and merge again."
                    ),
                    code="no_version",
                )
            cleaned["values"] = {}
            return cleaned
        values = {
            name: getattr(self.other if cleaned.get(name) == "other" else self.keep, name)
            for name in self.differing
        }
        merged = Customer(**{name: getattr(self.keep, name) for name in CUSTOMER_FIELDS})
        for name, value in values.items():
            setattr(merged, name, value)
        merged.validate_constraints()
        cleaned["values"] = values
        return cleaned


#: The ledger events staff record, as one choice each: channel and event.
CONSENT_CHANGES = [
    (
        f"{Consent.Channel.EMAIL}:{Consent.Event.CONSENT_GIVEN}",
        _("Email marketing: consent given"),
    ),
    (
        f"{Consent.Channel.EMAIL}:{Consent.Event.CONSENT_WITHDRAWN}",
        _("Email marketing: consent withdrawn"),
    ),
    (f"{Consent.Channel.SMS}:{Consent.Event.CONSENT_GIVEN}", _("SMS marketing: consent given")),
    (
        f"{Consent.Channel.SMS}:{Consent.Event.CONSENT_WITHDRAWN}",
        _("SMS marketing: consent withdrawn"),
    ),
    (
        f"{Consent.Channel.DIRECT_MARKETING}:{Consent.Event.OBJECTION}",
        _("Objection to all direct marketing"),
    ),
    (
        f"{Consent.Channel.DIRECT_MARKETING}:{Consent.Event.OBJECTION_LIFTED}",
        _("Objection to direct marketing lifted"),
    ),
]


class ConsentTextChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        wording = obj.wording if len(obj.wording) <= 90 else obj.wording[:87] + "…"
        return f"{obj}: “{wording}”"


#: The ways a person gives a consent, a withdrawal or an objection, for the
#: forms and the command line: not the suppression list, whose objections
#: only the register records (registry.suppression).
GIVEN_BY_METHODS = [
    (value, label)
    for value, label in Consent.Method.choices
    if value != Consent.Method.SUPPRESSION_LIST
]


class ConsentForm(forms.Form):
    """Record one event in a customer's consent ledger."""

    change = forms.ChoiceField(
        label=_("What happened"), choices=CONSENT_CHANGES, widget=forms.RadioSelect
    )
    method = forms.ChoiceField(
        label=_("How it was obtained"), choices=GIVEN_BY_METHODS, widget=forms.RadioSelect
    )
    text = ConsentTextChoiceField(
        label=_("Wording shown to the customer"),
        queryset=ConsentText.objects.all(),
        required=False,
        help_text=_("Required when consent is given: the version of the text the customer saw."),
    )
    occurred_at = MomentField(
        label=_("When it happened"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

        self.fields["occurred_at"].initial = timezone.localtime().replace(second=0, microsecond=0)

    def clean_occurred_at(self):
        occurred_at = self.cleaned_data["occurred_at"]
        now = timezone.now()
        if occurred_at > now + timezone.timedelta(minutes=5):
            raise forms.ValidationError(_("The time cannot be in the future."))
        # A browser's clock a few minutes fast: the ledger gets now, never a
        # time still to come (which would beat the refusals recorded until then).
        return min(occurred_at, now)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("change"):
            cleaned["channel"], cleaned["event"] = cleaned["change"].split(":")
            text = cleaned.get("text")
            if cleaned["event"] == Consent.Event.CONSENT_GIVEN:
                if text is None:
                    self.add_error("text", _("Choose the wording the customer agreed to."))
                elif text.channel != cleaned["channel"]:
                    self.add_error(
                        "text",
                        _("This wording is for another channel: choose one for %(channel)s.")
                        % {"channel": Consent.Channel(cleaned["channel"]).label.lower()},
                    )
        return cleaned


class PurposeField(forms.CharField):
    """Why a list leaves the register, as the user states it for the audit
    trail: the one place that asks for it. Spaces are tidied, so a purpose of
    spaces only is no purpose."""

    default_error_messages = {"required": _("State why the list is exported.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Purpose of the export"))
        super().__init__(max_length=200, **kwargs)

    def to_python(self, value):
        return " ".join(super().to_python(value).split())


class MarketingListForm(forms.Form):
    """Which customers may be contacted, and (to export) why the list is needed."""

    channel = forms.ChoiceField(
        label=_("Channel"), choices=MarketingChannel.choices, widget=forms.RadioSelect
    )
    city = forms.CharField(label=_("City (optional)"), required=False, max_length=100)
    # Set from a course's page: customers who are or were on that course.
    course = ObjectIdField(required=False, widget=forms.HiddenInput)
    purpose = PurposeField(
        help_text=_(
            "For example the campaign: “spring newsletter 2027”. Recorded in the audit trail."
        ),
    )

    def __init__(self, *args, exporting=False, **kwargs):
        super().__init__(*args, **kwargs)
        # Counting needs no purpose; exporting does (it goes to the audit trail).
        self.fields["purpose"].required = exporting

    def clean_city(self):
        return self.cleaned_data["city"].strip()


class ExportForm(forms.Form):
    """A file export: its format and the purpose the user states (audited).
    Subclasses give the purpose a help text that fits what is exported."""

    file_format = forms.ChoiceField(
        label=_("File format"),
        choices=[("csv", "CSV"), ("xlsx", "Excel (XLSX)")],
        initial="csv",
        widget=forms.RadioSelect,
    )
    purpose = PurposeField()


class RegisterExportForm(ExportForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose"].help_text = _(
            "Why the whole register leaves the system. Recorded in the audit trail."
        )
