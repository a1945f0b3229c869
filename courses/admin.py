from django import forms
from django.contrib import admin

from registry.concurrency import SeenValuesFormMixin

from .models import MessageSettings

#: The switches, one per kind of automatic message.
SWITCHES = (
    "enrolled",
    "waitlisted",
    "promoted",
    "enrollment_cancelled",
    "course_cancelled",
    "session_cancelled",
    "session_moved",
    "reminder",
)


class MessageSettingsForm(SeenValuesFormMixin, forms.ModelForm):
    """Two register managers switching messages at once: the later save from
    an older page is refused with what the other switched (the seventh
    probe: it turned the other's switch back without anyone knowing)."""

    seen = forms.CharField(widget=forms.HiddenInput, required=False)

    seen_fields = SWITCHES

    class Meta:
        model = MessageSettings
        fields = [*SWITCHES, "seen"]


@admin.register(MessageSettings)
class MessageSettingsAdmin(admin.ModelAdmin):
    """The register manager switches each automatic message on or off."""

    form = MessageSettingsForm
    fields = [*SWITCHES, "seen"]

    def has_add_permission(self, request):
        return False  # one row, made by the migration

    def has_delete_permission(self, request, obj=None):
        return False
