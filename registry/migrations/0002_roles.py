"""The three roles of the register as groups, with the permissions of the one
GRANTS table in registry/accounts/roles.py (the courses' permissions too, so
this waits for the courses' tables)."""

from django.db import migrations

from registry.accounts.grants import grant
from registry.accounts.roles import GRANTS


def create_roles(apps, schema_editor):
    grant(apps, GRANTS)


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=list(GRANTS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("courses", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
