"""The roles of the register as the core knows them: the groups' names, the
codes that the audit trail and the consent ledger record, and `role_code`.

A building block: the audit trail, the consent ledger and the access report
use it, so it lives below them, not in `accounts` (which keeps who may do
what, `accounts/roles.py`'s GRANTS, on top of these names)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

#: The person responsible for the register ("rekisteristä vastaava henkilö").
REGISTER_MANAGER = "Rekisterivastaava"
#: Office staff ("toimisto").
STAFF = "Toimisto"
#: Course instructors ("ohjaaja").
INSTRUCTOR = "Ohjaaja"


class RoleCode(models.TextChoices):
    """A role as the audit trail (AuditEvent.actor_role) and the consent
    ledger (Consent.recorded_by_role) record it, and as the access report
    names it instead of a person. "" (no choice) is the register itself."""

    REGISTER_MANAGER = "register_manager", _("Register manager")
    STAFF = "staff", _("Staff")
    INSTRUCTOR = "instructor", _("Instructor")
    #: An account in none of the roles: a superuser made with
    #: createsuperuser, or permissions granted one by one in admin. It is told
    #: as what it is, a user of the register, not as one of the roles.
    USER = "user", _("User")


#: Each group's code, highest first: a user's code is that of their highest role.
ROLE_CODES = {
    REGISTER_MANAGER: RoleCode.REGISTER_MANAGER,
    STAFF: RoleCode.STAFF,
    INSTRUCTOR: RoleCode.INSTRUCTOR,
}
#: The code of an account in none of the roles.
NO_ROLE = RoleCode.USER
#: Each group's name in the interface language.
ROLE_LABELS = {name: code.label for name, code in ROLE_CODES.items()}


def role_code(user):
    """The user's highest role as a code (NO_ROLE without one): what the audit
    trail records with each event (AuditEvent.actor_role) and the access
    report names instead of people. Reads prefetched groups when there are
    (many users: prefetch `groups`); otherwise one light query, remembered on
    the user object as Django's ModelBackend remembers permissions, so a
    request or a task that writes many events asks once, and a page that
    records nothing does not ask. (Reading it with the logged-in user, one
    EXISTS per group, cost every page 4 ms of building and compiling that
    query on a machine where this query takes 0.8 ms: docs/benchmarks.md.)"""
    prefetched = getattr(user, "_prefetched_objects_cache", {})
    if "groups" in prefetched:
        return _code_of({group.name for group in prefetched["groups"]})
    if not hasattr(user, "_role_code_cache"):
        user._role_code_cache = _code_of(set(user.groups.values_list("name", flat=True)))
    return user._role_code_cache


def _code_of(names):
    return next((code for name, code in ROLE_CODES.items() if name in names), NO_ROLE)
