"""What each role of the register (registry/roles.py: the groups, their
codes and labels) may do, and the roles of an account."""

from registry.roles import INSTRUCTOR, REGISTER_MANAGER, ROLE_LABELS, STAFF


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
