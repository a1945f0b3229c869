import datetime

from django import forms
from django.utils import dates, formats, timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from registry.forms import ExportForm, VersionedFormMixin
from registry.once import OnceFormMixin
from registry.query_forms import (
    FIRST_DAY,
    LAST_DAY,
    DayField,
    MomentField,
    ObjectIdField,
    QueryForm,
)

from .models import Attendance, Course, Enrollment, Session
from .participants import DEFAULT_PARTICIPANT_COLUMNS, PARTICIPANT_COLUMNS
from .services import COURSE_FIELDS, SESSION_FIELDS

#: The most places a course (a lecture included) may have.
MAX_CAPACITY = 10_000
#: The longest one session may last.
MAX_SESSION = datetime.timedelta(hours=24)

DAY_WIDGET = forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d")
DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
TIME_WIDGET = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")

#: The longest series one form makes: two sessions a week for a year is more.
MAX_SESSIONS = 60
#: The last day a series may start on: its last session is still a date.
LATEST_FIRST_DAY = LAST_DAY - datetime.timedelta(weeks=2 * MAX_SESSIONS)


class CourseForm(VersionedFormMixin, forms.ModelForm):
    """The course itself; its dates are its sessions' (SeriesForm, SessionForm)."""

    class Meta:
        model = Course
        fields = COURSE_FIELDS
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def clean_title(self):
        return " ".join(self.cleaned_data["title"].split())

    def clean_capacity(self):
        capacity = self.cleaned_data["capacity"]
        if not 1 <= capacity <= MAX_CAPACITY:
            raise forms.ValidationError(
                _("Give the number of places, from 1 to %(most)s.") % {"most": MAX_CAPACITY},
                code="implausible",
            )
        return capacity


class SeriesForm(OnceFormMixin, CourseForm):
    """A new course and its sessions: "weekly on <weekday> <time>-<time>, N
    times from <date>" (or every other week). The first post lists the dates
    with a tick each, so that staff can untick holidays; the second saves the
    ticked ones. `shown_series` carries the series whose dates were shown:
    if the series was changed before saving, the new dates are shown again
    instead of saving ticks of another series. No JavaScript needed. The
    second step's page carries its own token: a double click saves one
    course, not two (registry.once)."""

    once_name = "course-create"

    # Django's own names (its catalog has them in Finnish), Monday first.
    WEEKDAYS = sorted(dates.WEEKDAYS.items())

    first_day = forms.DateField(
        label=_("From"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("The first session is on the chosen weekday on or after this day."),
    )
    weekday = forms.TypedChoiceField(label=_("Weekday"), choices=WEEKDAYS, coerce=int)
    start_time = forms.TimeField(label=_("Starts at"), widget=TIME_WIDGET)
    end_time = forms.TimeField(label=_("Ends at"), widget=TIME_WIDGET)
    count = forms.IntegerField(
        label=_("Number of sessions"), min_value=1, max_value=MAX_SESSIONS, initial=1
    )
    every = forms.TypedChoiceField(
        label=_("Repeats"),
        choices=[(1, _("Every week")), (2, _("Every other week"))],
        coerce=int,
        initial=1,
    )
    dates = forms.MultipleChoiceField(
        label=_("Sessions"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Untick the days with no session, such as holidays."),
    )
    shown_series = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dates"].choices = self._date_choices()
        shown = self.data.get(self.add_prefix("shown_series")) if self.is_bound else None
        self.series_changed = bool(shown) and shown != self.signature
        if self.series_changed:
            # Ticks of another series: forget them, the new dates are shown.
            self.data = self.data.copy()
            self.data.setlist(self.add_prefix("dates"), [])

    @property
    def signature(self):
        """The series as text, "" while a part of it is not valid."""
        values = self._series_values() if self.is_bound else None
        return "|".join(str(v) for v in values.values()) if values else ""

    @property
    def dates_shown(self):
        """The dates of this very series are on the page (the second step)."""
        return (
            self.is_bound
            and not self.series_changed
            and bool(self.data.get(self.add_prefix("shown_series")))
        )

    def _series_values(self):
        """The series as posted, or None while a part of it is not valid."""
        values = {}
        for name in ("first_day", "weekday", "start_time", "end_time", "count", "every"):
            field = self.fields[name]
            try:
                values[name] = field.clean(
                    field.widget.value_from_datadict(self.data, self.files, self.add_prefix(name))
                )
            except forms.ValidationError:
                return None
        return values

    def _date_choices(self):
        values = self._series_values() if self.is_bound else None
        if values is None or not FIRST_DAY <= values["first_day"] <= LATEST_FIRST_DAY:
            return []
        return [
            (
                day.isoformat(),
                f"{formats.date_format(day, 'D')} {formats.date_format(day, 'SHORT_DATE_FORMAT')}",
            )
            for day in series_days(**values)
        ]

    def clean_first_day(self):
        day = self.cleaned_data["first_day"]
        if not FIRST_DAY <= day <= LATEST_FIRST_DAY:
            raise forms.ValidationError(
                _("Give a date between %(first)s and %(last)s.")
                % {"first": FIRST_DAY.year, "last": LATEST_FIRST_DAY.year - 1},
                code="implausible",
            )
        return day

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start_time"), cleaned.get("end_time")
        if start and end and end <= start:
            self.add_error("end_time", _("The session must end after it starts."))
        if self.errors:
            return cleaned
        if self.dates_shown and not cleaned.get("dates"):
            self.add_error("dates", _("Tick at least one session."))
        # A day sent twice (a crafted post) is one session.
        cleaned["dates"] = sorted(set(cleaned.get("dates") or []))
        return cleaned

    @property
    def confirmed(self):
        """The dates of this series were shown and ticked: save the course."""
        return self.is_valid() and self.dates_shown

    def with_every_date_ticked(self):
        """The form of the second step: this series' dates, every one ticked."""
        data = self.data.copy()
        data.setlist(self.add_prefix("dates"), [v for v, _label in self.fields["dates"].choices])
        data[self.add_prefix("shown_series")] = self.signature
        return type(self)(data).with_new_token()

    def sessions(self):
        """[(start, end)] of the ticked days, in the current time zone."""
        cleaned = self.cleaned_data
        zone = timezone.get_current_timezone()
        result = []
        for text in sorted(cleaned["dates"]):
            day = datetime.date.fromisoformat(text)
            result.append(
                (
                    datetime.datetime.combine(day, cleaned["start_time"], tzinfo=zone),
                    datetime.datetime.combine(day, cleaned["end_time"], tzinfo=zone),
                )
            )
        return result


def series_days(*, first_day, weekday, count, every, **_ignored):
    """The days of a weekly (every=1) or fortnightly (every=2) series."""
    first = first_day + datetime.timedelta(days=(weekday - first_day.weekday()) % 7)
    return [first + datetime.timedelta(weeks=every * n) for n in range(count)]


class SessionForm(VersionedFormMixin, forms.ModelForm):
    """Add a session, or move one (time or place)."""

    starts_at = MomentField(label=_("Starts"), widget=DATETIME_WIDGET)
    ends_at = MomentField(label=_("Ends"), widget=DATETIME_WIDGET)

    class Meta:
        model = Session
        fields = SESSION_FIELDS

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("starts_at"), cleaned.get("ends_at")
        if start and end and end <= start:
            self.add_error("ends_at", _("The session must end after it starts."))
        elif start and end and end - start > MAX_SESSION:
            self.add_error(
                "ends_at",
                _("A session lasts at most a day: make a longer course of several sessions."),
            )
        return cleaned


class SessionCancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("Shown beside the cancelled session, for example “instructor ill”."),
    )

    def clean_reason(self):
        return " ".join(self.cleaned_data["reason"].split())


class RollCallForm(forms.Form):
    """A session's roll call: one choice per row (came, didn't come, reported
    absence), and each row as it was shown (ShownRowsField)."""

    def __init__(self, *args, rows, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shown"] = ShownRowsField(required=False)
        self.rows = []
        for enrollment, status in rows:
            name = f"mark-{enrollment.pk}"
            self.fields[name] = forms.ChoiceField(
                required=False,
                choices=Attendance.Status.choices,
                widget=forms.RadioSelect,
            )
            self.initial[name] = status
            self.rows.append((enrollment, status, name))

    def marks(self):
        return {
            enrollment.pk: self.cleaned_data[name]
            for enrollment, _status, name in self.rows
            if self.cleaned_data.get(name)
        }


#: The channel's label: "Ilmoittautunut" in Finnish is also the status of the
#: badges beside it, so the label has a word of its own.
HOW_ENROLLED = pgettext_lazy("how the customer enrolled", "Enrolled")


class EnrollForm(forms.Form):
    customer = ObjectIdField(widget=forms.HiddenInput)
    source = forms.ChoiceField(
        label=HOW_ENROLLED, choices=Enrollment.Source.choices, initial=Enrollment.Source.OFFICE
    )


class CustomerEnrollForm(forms.Form):
    """Enrol the customer whose page this is on one of the coming courses."""

    course = ObjectIdField(label=_("Course"))
    source = forms.ChoiceField(
        label=HOW_ENROLLED, choices=Enrollment.Source.choices, initial=Enrollment.Source.OFFICE
    )


class ShownRowsField(forms.Field):
    """Each row of the attendance list as it was shown, "id:status": only what
    the user changed is saved, so a mark someone else made meanwhile is not
    undone. Gives {enrolment id: status as shown}, or None when the post has
    no rows (then the ticks apply to the whole list)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return None
        if isinstance(value, str):
            value = [value]
        number = ObjectIdField()
        shown = {}
        for item in value:
            pk_text, _sep, status = str(item).partition(":")
            shown[number.clean(pk_text)] = status[:20]
        return shown


class CourseListForm(QueryForm):
    """`?archive=1`: the courses that are over; `q`: words of the title or
    place; `starts_from` and `starts_to`: the days the course starts between."""

    archive = forms.ChoiceField(required=False, choices=[("", ""), ("1", _("Archive"))])
    q = forms.CharField(label=_("Course or place"), required=False, max_length=200)
    starts_from = DayField(label=_("Starts from"), required=False, widget=DAY_WIDGET)
    starts_to = DayField(label=_("Starts by"), required=False, widget=DAY_WIDGET)


class EnrolmentSearchForm(QueryForm):
    """`?q=`: the customers to enrol, found by name, email or phone."""

    q = forms.CharField(label=_("Search"), required=False, max_length=200)


class ParticipantExportForm(ExportForm):
    """Export a participant list with the columns the user may see."""

    columns = forms.MultipleChoiceField(
        label=_("Columns"), widget=forms.CheckboxSelectMultiple, choices=()
    )
    attendance = forms.BooleanField(
        label=_("Attendance: one column per session, and the times each came"),
        required=False,
    )
    waitlist = forms.BooleanField(
        label=_("The waiting list too, after those with a place"),
        required=False,
        initial=True,
    )
    field_order = ["columns", "waitlist", "attendance", "file_format", "purpose"]

    def __init__(self, *args, allowed_columns, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose"].help_text = _(
            "For example “list for the instructor”. Recorded in the audit trail."
        )
        self.fields["columns"].choices = [
            (name, PARTICIPANT_COLUMNS[name][0].capitalize()) for name in allowed_columns
        ]
        self.fields["columns"].initial = [
            name for name in DEFAULT_PARTICIPANT_COLUMNS if name in allowed_columns
        ]
