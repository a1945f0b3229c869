"""Grant the course permissions to the roles.

Instructors see only the courses they teach (the views scope them); staff and
the register manager see all. Instructors get participants' contact details
only if the register manager grants "view_participant_contacts" per user.
"""

from django.db import migrations

from registry.permission_grants import grant, revoke

OFFICE = [
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
]

GRANTS = {
    "Toimisto": OFFICE,
    "Rekisterivastaava": OFFICE,
    "Ohjaaja": ["courses.view_course", "courses.view_enrollment", "courses.mark_attendance"],
}


class Migration(migrations.Migration):
    dependencies = [
        ("courses", "0001_courses_and_enrollments"),
        ("registry", "0006_consent_permissions_and_wording"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, _: grant(apps, GRANTS), lambda apps, _: revoke(apps, GRANTS)
        )
    ]
