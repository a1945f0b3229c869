"""Create the three roles of the register as groups, with their permissions.

Permissions are created by post_migrate, which has not run yet on a fresh
database, so they are created here first for the apps this migration uses.
Later migrations grant the permissions of the models they add.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

REGISTER_MANAGER = "Rekisterivastaava"
STAFF = "Toimisto"
INSTRUCTOR = "Ohjaaja"

REGISTER_MANAGER_PERMISSIONS = [
    # Accounts and roles in Django admin; accounts are deactivated, not deleted.
    ("auth", "add_user"),
    ("auth", "change_user"),
    ("auth", "view_user"),
    ("auth", "view_group"),
    ("auth", "view_permission"),
    ("registry", "view_accountsecurity"),
    ("registry", "change_accountsecurity"),
    # The audit trail and the login throttling.
    ("registry", "view_auditevent"),
    ("admin", "view_logentry"),
    ("axes", "view_accessattempt"),
    ("axes", "delete_accessattempt"),
    ("axes", "view_accesslog"),
    ("axes", "view_accessfailurelog"),
]


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    manager, _ = Group.objects.get_or_create(name=REGISTER_MANAGER)
    Group.objects.get_or_create(name=STAFF)
    Group.objects.get_or_create(name=INSTRUCTOR)
    for app_label, codename in REGISTER_MANAGER_PERMISSIONS:
        manager.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=[REGISTER_MANAGER, STAFF, INSTRUCTOR]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
