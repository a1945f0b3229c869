from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from registry.once import OnceFormMixin

AUDIENCES = [
    ("participants", _("Participants (those with a place)")),
    ("waitlist", _("The waiting list")),
]


class CourseMessageForm(OnceFormMixin, forms.Form):
    """A message from staff to a course's participants or its waiting list.
    The page carries a one-time token: sent twice, it writes the messages
    once (registry.once)."""

    once_name = "course-message"

    audience = forms.ChoiceField(
        label=pgettext_lazy("message recipient", "To"),
        choices=AUDIENCES,
        initial="participants",
        widget=forms.RadioSelect,
    )
    subject = forms.CharField(
        label=_("Subject"),
        max_length=150,
        help_text=_("For example “The hall has changed”."),
    )
    text = forms.CharField(
        label=_("Message"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "Plain text. The greeting (Hei and the first name) and the company's "
            "contact details are added."
        ),
    )

    def clean_subject(self):
        return " ".join(self.cleaned_data["subject"].split())

    def clean_text(self):
        return self.cleaned_data["text"].replace("\r\n", "\n").strip()
