"""Create the three roles of the register as groups, with their permissions.

Later migrations grant the permissions of the models they add.
"""

from django.db import migrations

from registry.permission_grants import grant

REGISTER_MANAGER = "Rekisterivastaava"
STAFF = "Toimisto"
INSTRUCTOR = "Ohjaaja"

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
    ],
    STAFF: [],
    INSTRUCTOR: [],
}


def create_roles(apps, schema_editor):
    grant(apps, GRANTS)


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=list(GRANTS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
