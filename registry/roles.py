"""The roles of the register, as Django groups (created by a data migration)."""

from django.utils.translation import gettext_lazy as _

#: The person responsible for the register ("rekisteristä vastaava henkilö").
REGISTER_MANAGER = "Rekisterivastaava"
#: Office staff ("toimisto").
STAFF = "Toimisto"
#: Course instructors ("ohjaaja").
INSTRUCTOR = "Ohjaaja"

ROLE_LABELS = {
    REGISTER_MANAGER: _("Register manager"),
    STAFF: _("Staff"),
    INSTRUCTOR: _("Instructor"),
}


def role_labels(user):
    """The user's roles in the interface language, for the page header."""
    return [ROLE_LABELS[group.name] for group in user.groups.all() if group.name in ROLE_LABELS]
