"""The roles of the register, as Django groups, and what each may do."""

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


#: The role codes an access report names instead of a person, highest first.
ROLE_CODES = {REGISTER_MANAGER: "register_manager", STAFF: "staff", INSTRUCTOR: "instructor"}
#: The code of an account in none of the roles: a superuser made with
#: createsuperuser, or permissions granted one by one in admin. It is told as
#: what it is, a user of the register, not as one of the roles.
NO_ROLE = "user"
#: The codes' names, for the documents.
ROLE_CODE_LABELS = {code: ROLE_LABELS[name] for name, code in ROLE_CODES.items()} | {
    NO_ROLE: _("User")
}


def role_code(user):
    """The user's highest role as a code (NO_ROLE without one): what the audit
    trail records with each event (AuditEvent.actor_role) and the access
    report names instead of people. Reads prefetched groups when there are
    (many users: prefetch `groups`); otherwise one light query, remembered on
    the user object as Django's ModelBackend remembers permissions, so a
    request or a task that writes many events asks once."""
    prefetched = getattr(user, "_prefetched_objects_cache", {})
    if "groups" in prefetched:
        return _code_of({group.name for group in prefetched["groups"]})
    if not hasattr(user, "_role_code_cache"):
        user._role_code_cache = _code_of(set(user.groups.values_list("name", flat=True)))
    return user._role_code_cache


def _code_of(names):
    return next((code for name, code in ROLE_CODES.items() if name in names), NO_ROLE)


def role_labels(user):
    """The user's roles in the interface language, for the page header."""
    return [ROLE_LABELS[group.name] for group in user.groups.all() if group.name in ROLE_LABELS]


#: Who may do what: every permission of each role, in one table. The roles
#: migration (registry/migrations/0002_roles) creates the groups from it, and
#: a test holds a migrated database equal to it. Changing it later needs a
#: migration that calls accounts.grants.grant/revoke with the difference.
#: Permissions a role does not hold may still be given to one user in admin
#: ("can be granted" in the README).
_COURSES_OFFICE = [
    "courses.view_course",
    "courses.add_course",
    "courses.change_course",
    "courses.view_all_courses",
    "courses.view_enrollment",
    "courses.add_enrollment",
    "courses.change_enrollment",
    "courses.view_participant_contacts",
    "courses.mark_attendance",
    "courses.export_participant_list",
    # The outbox: customers' messages, "send again", a message to a course's people.
    "courses.view_message",
    "courses.change_message",
    "courses.send_course_message",
]
_CUSTOMERS_OFFICE = [
    "registry.view_customer",
    "registry.add_customer",
    "registry.change_customer",
    "registry.view_consent",
    "registry.add_consent",
    "registry.view_consenttext",
    "registry.import_customers",
]
GRANTS = {
    REGISTER_MANAGER: [
        # Accounts and roles in Django admin; accounts are deactivated, not deleted.
        "auth.add_user",
        "auth.change_user",
        "auth.view_user",
        "auth.view_group",
        "auth.view_permission",
        "registry.view_accountsecurity",
        "registry.change_accountsecurity",
        # The audit trail and the login throttling.
        "registry.view_auditevent",
        "admin.view_logentry",
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accesslog",
        "axes.view_accessfailurelog",
        # Customers and consents, as staff, and more.
        *_CUSTOMERS_OFFICE,
        "registry.merge_customer",
        "registry.add_consenttext",
        "registry.use_marketing_lists",
        "registry.export_customers",
        # Data subject requests, erasure and restriction of processing.
        "registry.view_datasubjectrequest",
        "registry.add_datasubjectrequest",
        "registry.change_datasubjectrequest",
        "registry.handle_data_subject_requests",
        "registry.erase_customer",
        "registry.restrict_customer",
        # The reports: aggregates only (office staff may be given it in admin).
        "registry.view_reports",
        *_COURSES_OFFICE,
        # Which automatic messages are sent (admin).
        "courses.view_messagesettings",
        "courses.change_messagesettings",
    ],
    STAFF: [*_CUSTOMERS_OFFICE, *_COURSES_OFFICE],
    # Instructors see only the courses they teach (the views scope them);
    # participants' contacts only if granted to the user.
    INSTRUCTOR: ["courses.view_course", "courses.view_enrollment", "courses.mark_attendance"],
}
