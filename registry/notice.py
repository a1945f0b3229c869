"""What the register holds and who processes it, as the privacy notice and the
record of processing activities both say it: one list for both, so that they
cannot disagree. tests/test_notice.py holds the list to the models: a new
field of Customer, or a new model pointing at a customer, fails it until a
line here names it."""

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django_countries import countries


@dataclass(frozen=True)
class Content:
    """A line of the notice's "content of the register": what it says, and the
    Customer fields and the models pointing at a customer that it covers."""

    text: str
    fields: tuple = ()
    models: tuple = ()


REGISTER_CONTENT = (
    Content(_("first and last name"), fields=("first_name", "last_name")),
    Content(_("email address"), fields=("email",)),
    Content(_("phone number"), fields=("phone",)),
    Content(
        _("postal address: street address, postal code, city and country"),
        fields=("street_address", "postal_code", "city", "country"),
    ),
    Content(
        _(
            "how the customer relationship began: a request for information, registration "
            "in the web service, or a course enrolment or purchase"
        ),
        fields=("source",),
    ),
    Content(
        _(
            "when the data was added and last changed, the customer's last activity, and "
            "the file the data was imported from, if it was"
        ),
        fields=("created_at", "updated_at", "last_activity_at", "imported_in"),
    ),
    Content(
        _(
            "whether the processing of the data is restricted at the customer's request, "
            "and since when"
        ),
        fields=("restricted_since",),
    ),
    Content(
        _(
            "course enrolments: the courses the customer enrolled in, a place on a waiting "
            "list, cancellations, and attendance at each session"
        ),
        models=("courses.Enrollment",),
    ),
    Content(
        _(
            "marketing consents, their withdrawals and objections to direct marketing: when, "
            "how they were given, the wording the customer was shown, and who recorded them"
        ),
        models=("registry.Consent",),
    ),
    Content(
        _("the marketing lists the customer was on: when, the channel and the purpose"),
        models=("registry.MarketingExportRow",),
    ),
    Content(
        _(
            "messages sent to the customer about their courses: kind, address and time; "
            "the texts are deleted after %(message_days)s days"
        ),
        models=("courses.Message",),
    ),
    Content(
        _(
            "the customer's requests about their data (access, rectification, erasure and so on) "
            "and how they were answered"
        ),
        models=("registry.DataSubjectRequest",),
    ),
    Content(
        _(
            "the handling log (audit trail): which employee viewed, changed or exported the "
            "data, and when"
        ),
    ),
)

#: Customer fields that say nothing more about the person: the record's number,
#: its edit counter, and the lowercased copy of the names, email and phone
#: that the search reads (the lines above name those).
NOT_PERSONAL = ("id", "version", "search_text")


def register_content():
    """The lines of the content of the register, in the active language."""
    values = {"message_days": settings.MESSAGE_BODY_DAYS}
    return [str(line.text) % values for line in REGISTER_CONTENT]


@dataclass(frozen=True)
class Processor:
    """A service provider that processes the register's data on the
    controller's behalf (GDPR art. 28), from REGISTER_PROCESSORS."""

    name: str
    purpose: str
    country: str
    safeguard: str = ""

    @property
    def country_name(self):
        """The country in the active language."""
        return countries.name(self.country) or self.country

    @property
    def outside_eu_eea(self):
        return self.country not in settings.EU_EEA_COUNTRIES


def processors():
    return [
        Processor(
            name=processor["name"],
            purpose=processor["purpose"],
            country=processor["country"],
            safeguard=processor.get("safeguard", ""),
        )
        for processor in settings.REGISTER_PROCESSORS
    ]
