"""Optimistic concurrency for records that several people edit.

Two people open the same customer; the first saves a new street, the second
a new city from the older form. Without a check the second save would put the
old street back. So every edit form carries the `version` of the record it was
opened on, and the service, with the row locked, compares it with the row's:
when someone saved in between, the save is refused with EditConflict. It
names who changed what and when (from the audit trail, whose events of a
change carry the version they made), and the view shows the form again: the
record as it is now, with the user's own changes on top, and the current
version, so that saving again after a look succeeds and both changes stand.
The form's side is registry.forms.VersionedFormMixin.
"""

import json
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from phonenumber_field.modelfields import PhoneNumberField

from .audit.models import AuditEvent
from .changes import plain_value
from .phones import format_phone, parse_phone


@dataclass
class Edit:
    """One save someone else made while the form was open."""

    record: str
    who: str
    at: object
    #: (field label, old value, new value), as a person reads them.
    changes: list = field(default_factory=list)


class CustomerGone(Exception):
    """The customer was merged into another record or erased while the form
    was open: there is nothing left to save into."""

    message = gettext_lazy(
        "This customer is no longer in the register: the record was merged into "
        "another one or erased. Search for the customer again."
    )


class EditConflict(Exception):
    """A save refused because the record changed since the form was opened."""

    def __init__(self, *, current, edits, raw_changes, complete=True):
        super().__init__("The record changed since the form was opened.")
        #: The rows as they are now (the first is the record edited).
        self.current = current
        #: What others did meanwhile, oldest first.
        self.edits = edits
        #: {field: [value when the form was opened, value now]} as stored text.
        self.raw_changes = raw_changes
        #: Whether `edits` tell every save of the record edited since the form
        #: was opened. Not when a version was raised without an event saying
        #: what changed: an erasure blanking a name in a request's notes, or a
        #: session's change (in its course's trail). A field such a save
        #: changed is not in `raw_changes`, so the form shows the user's old
        #: value there; the eighth probe: the erased name went back unseen.
        self.complete = complete

    #: Whether the page is told what others changed (`edits`). Not a page
    #: opened more than a day ago: its version is the server's
    #: (registry.forms.VersionField), but a page kept for weeks would be
    #: told weeks of the record's history. It is told only that the record
    #: has changed since.
    history_told = True
    #: "Label: value now" of the fields the form shows otherwise, when no
    #: change is told (VersionedFormMixin.after_conflict).
    record_now = ()

    @property
    def record(self):
        return self.current[0]

    def without_history(self):
        """This conflict as a page opened more than a day ago is told it:
        the records as they are now, and no edits."""
        told = EditConflict(current=self.current, edits=[], raw_changes={})
        told.history_told = False
        return told


def check_version(*rows_and_versions, actions):
    """Refuse the save when a locked row is no longer at the version the form
    was opened on. Each argument is (row, version); a version of None means
    the caller edits without a form (a service of the system) and is not
    checked."""
    stale = [
        (row, version)
        for row, version in rows_and_versions
        if version is not None and row.version != version
    ]
    if not stale:
        return
    edited = rows_and_versions[0][0]
    edits, raw_changes, told_versions = [], {}, set()
    for row, version in stale:
        events = (
            AuditEvent.objects.for_target(row)
            .filter(action__in=actions, detail__version__gt=version)
            .select_related("actor")
            .order_by("at", "id")
        )
        for event in events:
            changes = event.detail.get("changes") or {}
            edits.append(
                Edit(
                    record=str(row),
                    who=event.actor.get_username() if event.actor else _("the system"),
                    at=event.at,
                    changes=[
                        (label_of(row, name), shown(row, name, old), shown(row, name, new))
                        for name, (old, new) in changes.items()
                    ],
                )
            )
            if row is edited:
                told_versions.add(event.detail.get("version"))
                for name, (old, new) in changes.items():
                    raw_changes[name] = [raw_changes.get(name, [old])[0], new]
    # Each save of the record raises its version by one and names the new
    # version in its event: a step with no event was not told.
    posted = rows_and_versions[0][1]
    complete = posted is None or len(
        {step for step in told_versions if isinstance(step, int) and step <= edited.version}
    ) >= (edited.version - posted)
    raise EditConflict(
        current=[row for row, _version in rows_and_versions],
        edits=edits,
        raw_changes=raw_changes,
        complete=complete,
    )


def label_of(row, name):
    try:
        return str(row._meta.get_field(name).verbose_name).capitalize()
    except FieldDoesNotExist:  # a field since removed: its name is the best label
        return name


def shown(row, name, text):
    """A value of the audit trail (stored text) as the form shows it."""
    if not text:
        return ""
    try:
        model_field = row._meta.get_field(name)
    except FieldDoesNotExist:
        return text
    if isinstance(model_field, PhoneNumberField):
        return format_phone(text) if parse_phone(text) else text
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(text, text))
    if isinstance(model_field, models.DateTimeField) and (moment := parse_datetime(text)):
        return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")
    if isinstance(model_field, models.DateField) and (day := parse_date(text)):
        return formats.date_format(day, "SHORT_DATE_FORMAT")
    if isinstance(model_field, models.BooleanField):
        return str(_("yes") if text == "True" else _("no"))
    return text


class SeenValuesFormMixin:
    """Two register managers editing one record in admin that has no version
    (an account, a group, the automatic messages' switches): the change form
    carries the values it showed (`seen_fields`) in a hidden field `seen`.
    If the record no longer holds them, the save is refused with the fields
    someone else changed; the form shows their values where this user left a
    field as it was, keeps this user's own changes, and the next save goes
    through."""

    seen_fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["seen"] = json.dumps(self._values_now())

    def _watched(self):
        return [name for name in self.seen_fields if name in self.fields]

    def _values_now(self):
        """The watched values of the record as the form shows them."""
        values = {}
        for name in self._watched():
            model_field = self.instance._meta.get_field(name)
            if model_field.many_to_many:
                offered = self.fields[name].queryset
                shown = offered.filter(pk__in=getattr(self.instance, name).values("pk"))
                values[name] = sorted(str(pk) for pk in shown.values_list("pk", flat=True))
            else:
                values[name] = plain_value(model_field.value_from_object(self.instance))
        return values

    def _posted(self, name):
        key = self.add_prefix(name)
        model_field = self.instance._meta.get_field(name)
        if model_field.many_to_many:
            return sorted(self.data.getlist(key))
        if isinstance(model_field, models.BooleanField):
            return str(self.fields[name].widget.value_from_datadict(self.data, self.files, key))
        return self.data.get(key, "")

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None or "seen" not in self.fields:
            return cleaned
        try:
            seen = json.loads(self.data.get(self.add_prefix("seen")) or "")
        except ValueError:
            seen = {}
        now = self._values_now()
        changed = [
            name for name in now if not isinstance(seen, dict) or seen.get(name) != now[name]
        ]
        if not changed:
            return cleaned
        data = self.data.copy()
        for name in changed:
            if isinstance(seen, dict) and self._posted(name) == seen.get(name):
                self._show(data, name, now[name])
        data[self.add_prefix("seen")] = json.dumps(now)
        self.data = data
        raise forms.ValidationError(
            _(
                "Someone else changed this while you were editing it: %(fields)s. The form "
                "now shows their changes with yours on top; check it and save again."
            )
            % {"fields": ", ".join(str(self.fields[name].label) for name in changed)},
            code="changed_meanwhile",
        )

    def _show(self, data, name, value):
        key = self.add_prefix(name)
        model_field = self.instance._meta.get_field(name)
        if model_field.many_to_many:
            data.setlist(key, value)
        elif isinstance(model_field, models.BooleanField):
            if value == "True":
                data[key] = "on"
            else:
                data.pop(key, None)
        else:
            data[key] = value
