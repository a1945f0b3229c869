from django import forms
from django.utils.translation import gettext_lazy as _

from registry.forms import ExportForm, VersionedFormMixin
from registry.query_forms import ObjectIdField, ObjectIdsField, QueryForm

from .models import Course, Enrollment
from .services import COURSE_FIELDS, DEFAULT_PARTICIPANT_COLUMNS, PARTICIPANT_COLUMNS

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class CourseForm(VersionedFormMixin, forms.ModelForm):
    class Meta:
        model = Course
        fields = COURSE_FIELDS
        widgets = {
            "starts_at": DATETIME_WIDGET,
            "ends_at": DATETIME_WIDGET,
            "description": forms.Textarea(attrs={"rows": 3}),
        }

    def clean_title(self):
        return " ".join(self.cleaned_data["title"].split())


class EnrollForm(forms.Form):
    customer = ObjectIdField(widget=forms.HiddenInput)
    source = forms.ChoiceField(
        label=_("Enrolled"), choices=Enrollment.Source.choices, initial=Enrollment.Source.OFFICE
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


class AttendanceForm(forms.Form):
    """The enrolments ticked as attended, and the rows as they were shown."""

    attended = ObjectIdsField(required=False)
    shown = ShownRowsField(required=False)


class CourseListForm(QueryForm):
    """`?archive=1`: the courses that are over."""

    archive = forms.ChoiceField(required=False, choices=[("", ""), ("1", _("Archive"))])


class EnrolmentSearchForm(QueryForm):
    """`?q=`: the customers to enrol, found by name, email or phone."""

    q = forms.CharField(label=_("Search"), required=False, max_length=200)


class ParticipantExportForm(ExportForm):
    """Export a participant list with the columns the user may see."""

    columns = forms.MultipleChoiceField(
        label=_("Columns"), widget=forms.CheckboxSelectMultiple, choices=()
    )
    field_order = ["columns", "file_format", "purpose"]

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
